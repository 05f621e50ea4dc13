package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// load is a set of UDP clients, each keeping window queries in flight.
type load struct {
	addr            string
	kind            queryKind
	clients, window int
	queries         [][]byte // packed, ID 0
}

type loadResult struct {
	answered, lost, wrong int
	firstWrong            string
	elapsed               time.Duration
}

func newLoad(addr string, kind queryKind, clients, window int) *load {
	l := &load{addr: addr, kind: kind, clients: clients, window: window}
	for _, name := range kind.names {
		m := new(dns.Msg)
		m.SetQuestion(name, kind.qtype)
		m.Id = 0
		b, err := m.Pack()
		if err != nil {
			panic(err) // generated names are valid
		}
		l.queries = append(l.queries, b)
	}
	return l
}

func (l *load) run(ctx context.Context, d time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	results := make([]loadResult, l.clients)
	errs := make([]error, l.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range l.clients {
		wg.Go(func() { results[i], errs[i] = l.client(ctx, i) })
	}
	wg.Wait()
	total := loadResult{elapsed: time.Since(start)}
	for _, r := range results {
		total.answered += r.answered
		total.lost += r.lost
		total.wrong += r.wrong
		if total.firstWrong == "" {
			total.firstWrong = r.firstWrong
		}
	}
	return total, errors.Join(errs...)
}

// client sends a window of queries, reads the answers (or gives up on the rest after a
// short wait: UDP may drop under load), and repeats until ctx ends. It sends and reads
// in batches (sendmmsg/recvmmsg) so that one client core can keep the server's busy.
func (l *load) client(ctx context.Context, id int) (loadResult, error) {
	raddr, err := net.ResolveUDPAddr("udp", l.addr)
	if err != nil {
		return loadResult{}, err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return loadResult{}, err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	var res loadResult
	out := make([]ipv4.Message, l.window)
	in := make([]ipv4.Message, l.window)
	for i := range l.window {
		out[i].Buffers = [][]byte{make([]byte, 0, 512)}
		in[i].Buffers = [][]byte{make([]byte, 65535)}
	}
	next := id * 7919 // clients start at different names
	var qid uint16
	for ctx.Err() == nil {
		for i := range out {
			q := l.queries[next%len(l.queries)]
			next++
			qid++
			b := append(out[i].Buffers[0][:0], q...)
			binary.BigEndian.PutUint16(b, qid)
			out[i].Buffers[0] = b
		}
		for sent := 0; sent < len(out); {
			n, err := pc.WriteBatch(out[sent:], 0)
			if err != nil {
				return res, err
			}
			sent += n
		}
		if err := conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			return res, err
		}
		for got := 0; got < l.window; {
			n, err := pc.ReadBatch(in[:l.window-got], 0)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				res.lost += l.window - got
				break
			}
			if err != nil {
				return res, err
			}
			for _, m := range in[:n] {
				l.check(&res, m.Buffers[0][:m.N])
			}
			res.answered += n
			got += n
		}
	}
	return res, nil
}

// check looks at the header only: rcode, truncation and answer count.
func (l *load) check(res *loadResult, msg []byte) {
	if len(msg) < 12 {
		res.wrong++
		return
	}
	rcode := int(msg[3] & 0x0f)
	truncated := msg[2]&0x02 != 0
	answers := binary.BigEndian.Uint16(msg[6:8])
	if rcode != l.kind.rcode || truncated || (l.kind.answers && answers == 0) {
		res.wrong++
		if res.firstWrong == "" {
			res.firstWrong = fmt.Sprintf("rcode %s, truncated %v, %d answers", dns.RcodeToString[rcode], truncated, answers)
		}
	}
}
