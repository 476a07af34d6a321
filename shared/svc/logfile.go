package svc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// LogOutput is where a program's log goes. Under the Windows service manager
// standard error leads nowhere, so there the log is a file, <dir>/logs/<name>.log,
// kept to a few rotated files. Everywhere else it is stderr: systemd's journal
// or the terminal keep it. The returned close function flushes nothing and
// may be called once.
func LogOutput(stderr io.Writer, dir, name string) (io.Writer, func() error, error) {
	if runtime.GOOS != "windows" || Interactive() {
		return stderr, func() error { return nil }, nil
	}
	f, err := OpenLogFile(filepath.Join(dir, "logs", name+".log"), 10<<20, 5)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// LogFile is an append-only log file that rotates at a size: name.log moves
// to name.log.1, .1 to .2 and so on, and the oldest beyond keep is removed.
type LogFile struct {
	path string
	max  int64
	keep int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenLogFile opens (creating its folder) the log file at path, rotating it
// once it would grow past max bytes and keeping keep old files.
func OpenLogFile(path string, max int64, keep int) (*LogFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	l := &LogFile{path: path, max: max, keep: keep}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LogFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, one log line, rotating first when it would not fit.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *LogFile) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	l.f = nil
	os.Remove(fmt.Sprintf("%s.%d", l.path, l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if l.keep > 0 {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	} else if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return l.open()
}

// Close closes the file; later writes fail.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
