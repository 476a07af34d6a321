package proof

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"strings"
)

// Limits on what the reader accepts: a bundle is read into memory, and an
// inspector may be handed anything.
const (
	MaxBundleBytes = 512 << 20 // the whole zip
	MaxFileBytes   = 64 << 20  // one file in it
	MaxFiles       = 20000
)

// file is one entry of a bundle.
type file struct {
	Name string
	Data []byte
}

// Every entry is stamped 1980-01-01 00:00 (the first MS-DOS date), so the
// same files always make the same bytes.
const (
	dosTime = 0
	dosDate = 1<<5 | 1
)

// writeZip encodes files in the canonical layout: stored (uncompressed), no
// extra fields, no comments, no data descriptors, Unix mode 0644. It is the
// only zip writer the format depends on, so bundles read the same bytes with
// any Go version.
func writeZip(files []file) ([]byte, error) {
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("%d files exceed the limit of %d", len(files), MaxFiles)
	}
	var out, central bytes.Buffer
	le := binary.LittleEndian
	for _, f := range files {
		if len(f.Data) > MaxFileBytes {
			return nil, fmt.Errorf("%s: %d bytes exceed the limit of %d", f.Name, len(f.Data), MaxFileBytes)
		}
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		offset := out.Len()
		crc := crc32.ChecksumIEEE(f.Data)
		var h [30]byte
		le.PutUint32(h[0:], 0x04034b50)
		le.PutUint16(h[4:], 20) // version needed: 2.0
		le.PutUint16(h[6:], 0)  // flags
		le.PutUint16(h[8:], 0)  // method: store
		le.PutUint16(h[10:], dosTime)
		le.PutUint16(h[12:], dosDate)
		le.PutUint32(h[14:], crc)
		le.PutUint32(h[18:], uint32(len(f.Data)))
		le.PutUint32(h[22:], uint32(len(f.Data)))
		le.PutUint16(h[26:], uint16(len(f.Name)))
		le.PutUint16(h[28:], 0) // extra length
		out.Write(h[:])
		out.WriteString(f.Name)
		out.Write(f.Data)

		var c [46]byte
		le.PutUint32(c[0:], 0x02014b50)
		le.PutUint16(c[4:], 3<<8|20) // made by: Unix, 2.0
		le.PutUint16(c[6:], 20)
		le.PutUint16(c[8:], 0)
		le.PutUint16(c[10:], 0)
		le.PutUint16(c[12:], dosTime)
		le.PutUint16(c[14:], dosDate)
		le.PutUint32(c[16:], crc)
		le.PutUint32(c[20:], uint32(len(f.Data)))
		le.PutUint32(c[24:], uint32(len(f.Data)))
		le.PutUint16(c[28:], uint16(len(f.Name)))
		// extra, comment, disk, internal attributes: 0
		le.PutUint32(c[38:], 0o100644<<16) // a regular file, rw-r--r--
		le.PutUint32(c[42:], uint32(offset))
		central.Write(c[:])
		central.WriteString(f.Name)
		if out.Len()+central.Len() > MaxBundleBytes {
			return nil, fmt.Errorf("bundle exceeds %d bytes", MaxBundleBytes)
		}
	}
	cdOffset := out.Len()
	out.Write(central.Bytes())
	var e [22]byte
	le.PutUint32(e[0:], 0x06054b50)
	le.PutUint16(e[8:], uint16(len(files)))
	le.PutUint16(e[10:], uint16(len(files)))
	le.PutUint32(e[12:], uint32(central.Len()))
	le.PutUint32(e[16:], uint32(cdOffset))
	out.Write(e[:])
	return out.Bytes(), nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// checkName admits the plain relative names the format uses and nothing a
// careless unzip could write outside its folder.
func checkName(name string) error {
	if len(name) > 200 || !nameRE.MatchString(name) {
		return fmt.Errorf("file name %q is not a plain relative path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." {
			return fmt.Errorf("file name %q is not a plain relative path", name)
		}
	}
	return nil
}

// readZip reads a bundle's files in their order. A container it cannot read
// at all is an error; problems with single entries (a CRC mismatch,
// compression, a duplicate or odd name, an oversized entry) are returned as
// issues, and what could be read of the entry is kept so the content checks
// can still say what changed.
func readZip(b []byte) (files []file, issues []string, err error) {
	if len(b) > MaxBundleBytes {
		return nil, nil, fmt.Errorf("the file is %d bytes, over the limit of %d", len(b), MaxBundleBytes)
	}
	if err := checkDirectory(b); err != nil {
		return nil, nil, err
	}
	r, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // odd names are reported below
		return nil, nil, fmt.Errorf("not a readable zip file (%v)", err)
	}
	if len(r.File) > MaxFiles {
		return nil, nil, fmt.Errorf("%d entries, over the limit of %d", len(r.File), MaxFiles)
	}
	seen := map[string]bool{}
	var total uint64
	for _, f := range r.File {
		if err := checkName(f.Name); err != nil {
			issues = append(issues, err.Error())
			continue
		}
		if seen[f.Name] {
			issues = append(issues, fmt.Sprintf("%s appears more than once (ambiguous: the first copy is checked)", f.Name))
			continue
		}
		seen[f.Name] = true
		if f.Method != zip.Store {
			issues = append(issues, fmt.Sprintf("%s is compressed (method %d); bundles store files uncompressed", f.Name, f.Method))
			continue
		}
		if f.UncompressedSize64 > MaxFileBytes || f.CompressedSize64 != f.UncompressedSize64 {
			issues = append(issues, fmt.Sprintf("%s declares %d bytes (stored %d), over the limit of %d or inconsistent",
				f.Name, f.UncompressedSize64, f.CompressedSize64, MaxFileBytes))
			continue
		}
		if total += f.UncompressedSize64; total > MaxBundleBytes {
			return nil, nil, fmt.Errorf("entries add up to more than %d bytes", MaxBundleBytes)
		}
		rc, err := f.Open()
		if err != nil {
			issues = append(issues, fmt.Sprintf("%s cannot be read (%v)", f.Name, err))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, MaxFileBytes+1))
		rc.Close()
		switch {
		case errors.Is(err, zip.ErrChecksum):
			issues = append(issues, fmt.Sprintf("%s fails its CRC-32 check: its bytes were altered", f.Name))
		case err != nil:
			issues = append(issues, fmt.Sprintf("%s cannot be read (%v)", f.Name, err))
			continue
		case uint64(len(data)) != f.UncompressedSize64:
			issues = append(issues, fmt.Sprintf("%s holds %d bytes but declares %d", f.Name, len(data), f.UncompressedSize64))
		}
		files = append(files, file{Name: f.Name, Data: data})
	}
	return files, issues, nil
}

// zip.NewReader parses every central directory entry into memory before
// they can be counted, and reads on past the count the end record declares
// (it compares only the count modulo 65536) for as long as entries follow:
// a zip of millions of tiny entries costs gigabytes. checkDirectory counts
// them first, where archive/zip will read them, without allocating.
func checkDirectory(b []byte) error {
	le := binary.LittleEndian
	end := endRecord(b)
	if end < 0 {
		return errors.New("not a readable zip file (no end of central directory record)")
	}
	records := le.Uint16(b[end+10:])
	size, offset := int64(le.Uint32(b[end+12:])), int64(le.Uint32(b[end+16:]))
	// archive/zip reads a zip64 end record, with 64-bit counts and offsets,
	// when one of these is saturated and a zip64 locator precedes the end.
	if (records == 0xffff || size == 0xffff || offset == 0xffffffff) && end >= 20 && le.Uint32(b[end-20:]) == 0x07064b50 {
		return errors.New("a zip64 archive: bundles never need zip64")
	}
	if records > MaxFiles {
		return fmt.Errorf("the zip's end record declares %d entries, over the limit of %d", records, MaxFiles)
	}
	// archive/zip starts at the declared offset, or where the declared size
	// puts the directory when the two disagree.
	for _, at := range []int64{offset, int64(end) - size} {
		n := 0
		for at >= 0 && at+46 <= int64(len(b)) && le.Uint32(b[at:]) == 0x02014b50 {
			at += 46 + int64(le.Uint16(b[at+28:])) + int64(le.Uint16(b[at+30:])) + int64(le.Uint16(b[at+32:]))
			if at > int64(len(b)) {
				break // cut short: archive/zip stops before it
			}
			if n++; n > MaxFiles {
				return fmt.Errorf("the zip's central directory holds more than the limit of %d entries", MaxFiles)
			}
		}
	}
	return nil
}

// endRecord is where archive/zip finds the end of central directory record:
// the last signature in the final 65 KiB whose comment fits, or -1.
func endRecord(b []byte) int {
	if len(b) < 22 {
		return -1
	}
	from := max(0, len(b)-65*1024)
	i := bytes.LastIndex(b[from:len(b)-18], []byte("PK\x05\x06"))
	if i < 0 {
		return -1
	}
	i += from
	if i+22+int(binary.LittleEndian.Uint16(b[i+20:])) > len(b) {
		return -1
	}
	return i
}

// layoutDiff compares a bundle with the canonical encoding of the files read
// from it and describes where they first differ ("" when they do not).
func layoutDiff(b []byte, files []file) string {
	want, err := writeZip(files)
	if err != nil {
		return err.Error()
	}
	if bytes.Equal(b, want) {
		return ""
	}
	i := 0
	for i < len(b) && i < len(want) && b[i] == want[i] {
		i++
	}
	// Say which part of the canonical layout offset i falls in.
	where := ""
	off := 0
	for _, f := range files {
		hdr := off + 30 + len(f.Name)
		end := hdr + len(f.Data)
		if i < hdr {
			where = "in the local header of " + f.Name
			break
		}
		if i < end {
			where = "in the data of " + f.Name
			break
		}
		off = end
	}
	switch {
	case i == len(b):
		where = "the file ends early: truncated"
	case where != "":
	case i < len(want):
		where = "in the zip's central directory or end record"
	default:
		where = "after the end of the zip: appended data"
	}
	return fmt.Sprintf("byte %d differs from the canonical layout (%s): the container was altered or rewritten", i, where)
}
