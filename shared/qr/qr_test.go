package qr_test

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/attesta/attesta/shared/qr"
)

// Every code drawn reads back, with ZXing's decoder, as what was drawn,
// from a long receipt link to a short notice link, at the sizes the kiosk
// asks for and below a module's size.
func TestPNGReadsBack(t *testing.T) {
	for _, c := range []struct {
		content string
		size    int
	}{
		{"https://hub.example.com/r/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b#k=Zm9vYmFyYmF6cXV4eHl6enkxMjM0NTY3ODkwYWJjZGVm", 320},
		{"http://127.0.0.1:8701/notices/privacy-it/3", 320},
		{"attesta://enroll?hub=http://hub.local:8700&code=ABCD-EFGH-JKLM", 200},
		{strings.Repeat("x", 300), 100}, // more modules than pixels asked for
	} {
		b, err := qr.PNG(c.content, c.size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%q: not a PNG: %v", c.content, err)
		}
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		if w != h || w > max(c.size, 2*c.size/3+w/2) || w < c.size/2 {
			t.Errorf("%q: %dx%d image for size %d", c.content, w, h, c.size)
		}
		if got := decode(t, img); got != c.content {
			t.Errorf("read back %q, want %q", got, c.content)
		}
	}
}

func TestPNGTooLong(t *testing.T) {
	if _, err := qr.PNG(strings.Repeat("x", 5000), 320); err == nil {
		t.Fatal("a text longer than any QR code holds was drawn")
	}
}

func TestText(t *testing.T) {
	s, err := qr.Text("attesta://enroll?code=ABCD")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(s, "\n"); lines < 10 || !strings.ContainsAny(s, "█▀▄") {
		t.Fatalf("not a QR code in text (%d lines):\n%s", lines, s)
	}
}

func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code read: %v", err)
	}
	return res.GetText()
}

func BenchmarkPNG(b *testing.B) {
	const receipt = "https://hub.example.com/r/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b#k=Zm9vYmFyYmF6cXV4eHl6enkxMjM0NTY3ODkwYWJjZGVm"
	for range b.N {
		if _, err := qr.PNG(receipt, 320); err != nil {
			b.Fatal(err)
		}
	}
}
