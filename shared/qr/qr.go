// Package qr draws QR codes (github.com/skip2/go-qrcode) for the kiosk's
// screens and the hub's terminal.
package qr

import (
	"bytes"
	"image"
	"image/png"
	"sync"

	"github.com/skip2/go-qrcode"
)

// encoder keeps its compressor between images: making one allocates more
// than a megabyte.
var encoder = &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &bufferPool{}}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}

func (b *bufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

// PNG draws content as a QR code (error correction level M, the quiet zone
// included) in a black-and-white PNG of about size pixels a side: a whole
// number of pixels per module, so every module is sharp, and never less
// than one. The image is written directly and compressed for speed: a
// kiosk draws one for every visitor, and go-qrcode's own PNG took twice as
// long (docs/BENCHMARKS.md).
func PNG(content string, size int) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	bits := q.Bitmap()
	n := len(bits)
	scale := max(1, size/n)
	// Gray, not a two-colour palette: the PNG encoder copies gray rows as
	// they are but reads a palette's pixel by pixel, which took longer than
	// the rest of the drawing.
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for y, row := range bits {
		line := img.Pix[y*scale*img.Stride : (y*scale+1)*img.Stride]
		for x, set := range row {
			if !set {
				for i := x * scale; i < (x+1)*scale; i++ {
					line[i] = 0xff
				}
			}
		}
		for k := 1; k < scale; k++ {
			copy(img.Pix[(y*scale+k)*img.Stride:], line)
		}
	}
	var b bytes.Buffer
	if err := encoder.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Text draws content as a QR code in text, two modules per character
// cell, for a terminal with a dark background.
func Text(content string) (string, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", err
	}
	return q.ToSmallString(false), nil
}
