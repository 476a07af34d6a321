package proof

import (
	"crypto/ed25519"
	"encoding/json"

	"github.com/attesta/attesta/shared/record"
)

// Rewrite reads a canonical bundle, lets edit change its files (name →
// data; deleting a name drops the file) and writes it back in the
// canonical layout: a tampering that leaves the container consistent, so
// only the content checks can catch it.
func Rewrite(b []byte, edit func(names []string, files map[string][]byte) []string) ([]byte, error) {
	fs, _, err := readZip(b)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range fs {
		files[f.Name] = f.Data
		names = append(names, f.Name)
	}
	names = edit(names, files)
	var out []file
	for _, n := range names {
		if d, ok := files[n]; ok {
			out = append(out, file{n, d})
		}
	}
	return writeZip(out)
}

// Resign is Rewrite for someone holding the hub key: the manifest's file
// list is brought up to date and signed again.
func Resign(b []byte, key ed25519.PrivateKey, edit func(names []string, files map[string][]byte) []string) ([]byte, error) {
	return Rewrite(b, func(names []string, files map[string][]byte) []string {
		names = edit(names, files)
		var m Manifest
		if err := json.Unmarshal(files[fileManifest], &m); err != nil {
			panic(err)
		}
		m.Files = nil
		for _, n := range names {
			if d, ok := files[n]; ok && n != fileManifest && n != fileManifestSig {
				m.Files = append(m.Files, ManifestFile{Name: n, Size: len(d), SHA256: record.SHA256Hex(d)})
			}
		}
		mb, _ := json.MarshalIndent(m, "", "  ")
		files[fileManifest] = append(mb, '\n')
		files[fileManifestSig] = ed25519.Sign(key, manifestMessage(files[fileManifest]))
		return names
	})
}

// Files lists a bundle's file names in order.
func Files(b []byte) []string {
	fs, _, _ := readZip(b)
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return names
}
