package proof

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

// Files lists a bundle's file names in order.
func Files(b []byte) []string {
	fs, _, _ := readZip(b)
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return names
}
