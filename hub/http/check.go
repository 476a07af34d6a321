package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

// checkLine is one line of a bulk check, and the query string of a single one.
type checkLine struct {
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Purpose string `json:"purpose"`
	Ref     string `json:"ref,omitempty"` // the caller's own id, echoed back
}

// parse validates a check against the catalog and normalises its identifier.
func (c checkLine) parse(cat *catalog.Catalog) (hub.CheckQuery, error) {
	id, err := hub.ParseIdentifier(c.Email, c.Phone, cat.Jurisdiction)
	if err != nil {
		return hub.CheckQuery{}, err
	}
	q := hub.CheckQuery{Ident: id}
	if c.Purpose == "" {
		return q, apperr.Errorf(apperr.EINVALID, "purpose is required")
	}
	if _, ok := cat.Purpose(c.Purpose); !ok {
		return q, apperr.Errorf(apperr.EINVALID, "purpose %q is not in the catalog", c.Purpose)
	}
	q.Purpose = c.Purpose
	return q, nil
}

// parseQuick is parse for bulk lists: a number written internationally is
// looked up in its compact E.164 form first (compact says so), and parsed
// only if the hub does not hold it (see answer).
func (c checkLine) parseQuick(cat *catalog.Catalog) (q hub.CheckQuery, compact bool, err error) {
	if c.Phone != "" && c.Email == "" {
		if _, known := cat.Purpose(c.Purpose); known {
			if v, ok := hub.CompactE164(c.Phone); ok {
				return hub.CheckQuery{Ident: hub.Identifier{Kind: hub.IdentPhone, Value: v}, Purpose: c.Purpose}, true, nil
			}
		}
	}
	q, err = c.parse(cat)
	return q, false, err
}

// checkOne answers GET /api/v1/check?email=…&purpose=… (or phone=).
func (s *Server) checkOne(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	cat, err := s.Store.Catalog(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	q, err := checkLine{Email: v.Get("email"), Phone: v.Get("phone"), Purpose: v.Get("purpose")}.parse(cat)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ds, err := s.Store.Check(r.Context(), []hub.CheckQuery{q})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, ds[0])
}

// Bulk checks go through in chunks: each chunk is one query, chunks run on
// every core, and answers are written in input order as chunks finish.
const (
	checkChunk   = 512
	checkLineMax = 4 << 10
)

type checkResult struct {
	Line int    `json:"line"`
	Ref  string `json:"ref,omitempty"`
	hub.Decision
	Error *errorBody `json:"error,omitempty"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// chunk is a run of lines: the reader decodes them, a worker parses,
// checks and encodes them.
type chunk struct {
	lines []checkResult
	cls   []checkLine // the lines that decoded
	at    []int       // index into lines of each
	out   chan []byte
}

// checkBulk answers POST /api/v1/check: NDJSON lines in, one NDJSON answer
// per line out, same order, streamed. A bad line gets an error answer and
// the stream goes on.
func (s *Server) checkBulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cat, err := s.Store.Catalog(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	// Answers start before the whole list is read.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
		s.Logger.Debug("full duplex not available", "err", err)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	g, ctx := errgroup.WithContext(ctx)
	work := make(chan *chunk)
	ordered := make(chan *chunk, 2*runtime.GOMAXPROCS(0))
	g.Go(func() error {
		defer close(work)
		defer close(ordered)
		return readChecks(ctx, r.Body, func(c *chunk) error {
			for _, ch := range []chan *chunk{ordered, work} {
				select {
				case ch <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	})
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			for c := range work {
				if err := s.answer(ctx, cat, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		bw := bufio.NewWriterSize(w, 64<<10)
		flusher, _ := w.(http.Flusher)
		for c := range ordered {
			select {
			case b := <-c.out:
				if _, err := bw.Write(b); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			if len(ordered) == 0 { // caught up: let the client see what is ready
				if err := bw.Flush(); err != nil {
					return err
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
		}
		return bw.Flush()
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		// The status is sent; the last line says why the stream ended.
		s.Logger.Warn("bulk check ended early", "err", err)
		b, _ := json.Marshal(map[string]errorBody{"error": {Code: apperr.Code(err), Message: apperr.Message(err)}})
		w.Write(append(b, '\n'))
	}
}

// readChecks reads NDJSON check lines into chunks. A line that cannot be
// decoded becomes an error answer; only a failing connection stops it.
func readChecks(ctx context.Context, body io.Reader, emit func(*chunk) error) error {
	br := bufio.NewReaderSize(body, 64<<10)
	c := &chunk{out: make(chan []byte, 1)}
	flush := func() error {
		if len(c.lines) == 0 {
			return nil
		}
		err := emit(c)
		c = &chunk{out: make(chan []byte, 1)}
		return err
	}
	for n := 1; ; n++ {
		line, err := readLine(br, checkLineMax)
		if errors.Is(err, io.EOF) && line == nil {
			break
		}
		res := checkResult{Line: n}
		switch {
		case errors.Is(err, errLineTooLong):
			res.Error = &errorBody{apperr.EINVALID, fmt.Sprintf("line %d is longer than %d bytes", n, checkLineMax)}
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("read check list: %w", err)
		case len(bytes.TrimSpace(line)) == 0:
			continue // blank lines are not checks
		default:
			cl, derr := decodeCheckLine(line)
			if derr != nil {
				res.Error = &errorBody{apperr.EINVALID, checkLineError(n, derr)}
				break
			}
			res.Ref = cl.Ref
			c.at = append(c.at, len(c.lines))
			c.cls = append(c.cls, cl)
		}
		c.lines = append(c.lines, res)
		if len(c.lines) == checkChunk {
			if err := flush(); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return flush()
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline; an over-long line
// is consumed and reported as errLineTooLong so the next one can be read.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return []byte{}, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, io.EOF
		case err != nil:
			return nil, err
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), nil
	}
}

// answer parses one chunk's lines, checks them in one call and encodes
// the answers. Numbers looked up in compact form and not found are parsed
// like any other: an invalid one gets its error, and one that normalises
// differently is looked up again.
func (s *Server) answer(ctx context.Context, cat *catalog.Catalog, c *chunk) error {
	qs := make([]hub.CheckQuery, 0, len(c.cls))
	of := make([]int, 0, len(c.cls)) // index into cls of each query
	var compact []int                // index into qs of each compact number
	for i, cl := range c.cls {
		q, isCompact, err := cl.parseQuick(cat)
		if err != nil {
			c.lines[c.at[i]].Error = lineError(c.lines[c.at[i]].Line, err)
			continue
		}
		if isCompact {
			compact = append(compact, len(qs))
		}
		qs = append(qs, q)
		of = append(of, i)
	}
	if len(qs) > 0 {
		ds, err := s.Store.Check(ctx, qs)
		if err != nil {
			return err
		}
		var again []hub.CheckQuery
		var againOf []int
		for _, k := range compact {
			if ds[k].SubjectID != "" {
				continue // held, so valid
			}
			q, err := c.cls[of[k]].parse(cat)
			switch {
			case err != nil:
				c.lines[c.at[of[k]]].Error = lineError(c.lines[c.at[of[k]]].Line, err)
			case q.Ident != qs[k].Ident:
				again, againOf = append(again, q), append(againOf, k)
			}
		}
		if len(again) > 0 {
			ds2, err := s.Store.Check(ctx, again)
			if err != nil {
				return err
			}
			for j, k := range againOf {
				ds[k] = ds2[j]
			}
		}
		for k, d := range ds {
			if l := &c.lines[c.at[of[k]]]; l.Error == nil {
				l.Decision = d
			}
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(c.lines) * 160)
	for _, l := range c.lines {
		appendCheckResult(&buf, l)
	}
	c.out <- buf.Bytes()
	return nil
}

func lineError(n int, err error) *errorBody {
	return &errorBody{apperr.Code(err), fmt.Sprintf("line %d: %s", n, apperr.Message(err))}
}

// appendCheckResult writes one answer line. It is what encoding/json
// would write, by hand, because bulk checks spend most of their time here.
func appendCheckResult(buf *bytes.Buffer, l checkResult) {
	b := buf.AvailableBuffer()
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(l.Line), 10)
	if l.Ref != "" {
		b = append(b, `,"ref":`...)
		b = appendString(b, l.Ref)
	}
	if l.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b = appendString(b, l.Error.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, l.Error.Message)
		b = append(b, "}}\n"...)
		buf.Write(b)
		return
	}
	b = append(b, `,"decision":"`...)
	b = append(b, l.Decision.Decision...)
	b = append(b, '"')
	if l.SubjectID != "" {
		b = append(b, `,"subject_id":"`...)
		b = append(b, l.SubjectID...)
		b = append(b, '"')
	}
	if l.EventID != "" {
		b = append(b, `,"event_id":"`...)
		b = append(b, l.EventID...)
		b = append(b, '"')
	}
	for _, t := range []struct {
		name string
		at   *time.Time
	}{{"since", l.Since}, {"expires_at", l.ExpiresAt}} {
		if t.at != nil {
			b = append(b, `,"`...)
			b = append(b, t.name...)
			b = append(b, `":"`...)
			b = t.at.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
	}
	b = append(b, "}\n"...)
	buf.Write(b)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // escapes like every other answer
	return append(b, q...)
}
