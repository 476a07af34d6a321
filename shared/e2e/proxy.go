package e2e

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a real TCP proxy on loopback between a collector and a hub. It
// forwards bytes unchanged and injects faults: it can refuse every
// connection (a network outage), cut every live connection at once, or cut
// each new connection after a chosen number of bytes in either direction,
// mid-frame if that is where the count falls.
type Proxy struct {
	ln net.Listener

	mu     sync.Mutex
	target string
	down   bool
	budget func() (up, down int64) // byte budgets of a new connection; <= 0 is unlimited
	links  map[*link]struct{}
	closed bool

	hold               atomic.Int64 // total bytes towards the target after which forwarding that way waits; 0: never
	accepted           atomic.Int64
	cuts               atomic.Int64
	bytesUp, bytesDown atomic.Int64 // bytes forwarded each way
	wg                 sync.WaitGroup
}

// NewProxy listens on 127.0.0.1:0 and forwards to target (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy as an http:// base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetDown cuts every live connection and refuses new ones (accepting and
// closing them at once) until SetDown(false).
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.CutAll()
	}
}

// CutAfter makes every new connection die once it has carried up bytes
// towards the target or down bytes back, whichever comes first; fn is asked
// once per connection. nil restores unlimited connections.
func (p *Proxy) CutAfter(fn func() (up, down int64)) {
	p.mu.Lock()
	p.budget = fn
	p.mu.Unlock()
}

// HoldUpAfter stops forwarding towards the target once n bytes in all have
// gone that way (0: never), without cutting anything: the connections stay
// open and answers still come back, so a test can act in the middle of a
// sync however fast or slow the machine is. HoldUpAfter(0) lets the rest go.
func (p *Proxy) HoldUpAfter(n int64) { p.hold.Store(n) }

// CutAll closes every live connection abruptly and returns how many.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.cut(true)
	}
	return len(ls)
}

// Accepted counts connections accepted so far; Cuts counts those the proxy
// cut (by CutAll, SetDown or a byte budget).
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }
func (p *Proxy) Cuts() int64     { return p.cuts.Load() }

// Bytes counts the bytes forwarded towards the target and back.
func (p *Proxy) Bytes() (up, down int64) { return p.bytesUp.Load(), p.bytesDown.Load() }

// Close stops listening, cuts everything and waits for the copiers.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		down, closed, target, budget := p.down, p.closed, p.target, p.budget
		p.mu.Unlock()
		if down || closed {
			c.Close()
			continue
		}
		var up, dn int64
		if budget != nil {
			up, dn = budget()
		}
		p.wg.Add(1)
		go p.forward(c, target, up, dn)
	}
}

func (p *Proxy) forward(client net.Conn, target string, up, down int64) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", target)
	if err != nil {
		client.Close() // the target is down: the client sees its connection closed
		return
	}
	l := &link{p: p, client: client, server: server}
	p.mu.Lock()
	if p.closed || p.down {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pipe(server, client, up, &p.bytesUp, &p.hold) }()
	go func() { defer wg.Done(); l.pipe(client, server, down, &p.bytesDown, nil) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

type link struct {
	p              *Proxy
	client, server net.Conn
	once           sync.Once
	gone           atomic.Bool // cut
}

// cut closes both ends. An injected cut resets the connections (no FIN, no
// close frame), as a dropped Wi-Fi or a crashed router would.
func (l *link) cut(injected bool) {
	l.once.Do(func() {
		l.gone.Store(true)
		if injected {
			l.p.cuts.Add(1)
			for _, c := range []net.Conn{l.client, l.server} {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
		}
		l.client.Close()
		l.server.Close()
	})
}

// pipe copies src to dst until either fails or budget bytes have passed
// (budget <= 0: no limit), then takes the whole link down. With a hold it
// waits while count has reached the hold.
func (l *link) pipe(dst, src net.Conn, budget int64, count, hold *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		want := len(buf)
		if budget > 0 && int64(want) > budget {
			want = int(budget)
		}
		if hold != nil {
			for h := hold.Load(); h > 0 && count.Load() >= h && !l.gone.Load(); h = hold.Load() {
				time.Sleep(5 * time.Millisecond)
			}
			if h := hold.Load(); h > 0 && h-count.Load() < int64(want) {
				want = max(int(h-count.Load()), 1)
			}
		}
		n, err := src.Read(buf[:want])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.cut(false)
				return
			}
			count.Add(int64(n))
			if budget > 0 {
				budget -= int64(n)
				if budget == 0 {
					l.cut(true)
					return
				}
			}
		}
		if err != nil { // EOF or an error: either way this link is over
			l.cut(false)
			return
		}
	}
}
