package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// inProcessUserKey marks a request that came through an in-process transport; only this
// package can set it, so a request from the network can never carry it.
const inProcessUserKey ctxKey = userKey + 1

// inProcessBuffer bounds how much of a response the handler may write ahead of its reader
// (a watch whose client stops reading then blocks like a full TCP window would).
const inProcessBuffer = 1 << 20

// InProcessTransport serves requests with h, the server's own handler, inside this process
// as user u: no TLS, no HTTP framing, no sockets. The server's controllers, scheduler and
// built-in agent are API clients like any other (same filters, admission, validation and
// watch code), but their requests cost a function call and a goroutine instead of a
// loopback connection. Responses stream, so watches work.
func InProcessTransport(h http.Handler, u User) http.RoundTripper {
	return &inProcessTransport{h: h, user: u}
}

type inProcessTransport struct {
	h    http.Handler
	user User
}

func (t *inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, fmt.Errorf("in-process request without a URL")
	}
	ctx, cancel := context.WithCancel(context.WithValue(req.Context(), inProcessUserKey, t.user))
	sr := req.Clone(ctx)
	sr.RequestURI = req.URL.RequestURI()
	sr.RemoteAddr = "in-process"
	if sr.Host == "" {
		sr.Host = req.URL.Host
	}
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	w := &inProcessWriter{header: http.Header{}, ready: make(chan struct{})}
	w.body.cond.L = &w.body.mu
	w.body.cancel = cancel
	go func() {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
			w.finish()
			cancel()
			if req.Body != nil {
				_ = req.Body.Close()
			}
		}()
		t.h.ServeHTTP(w, sr)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		cancel()
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          &w.body,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// inProcessWriter is the handler's ResponseWriter: the header is committed at the first
// WriteHeader, Write or Flush, and the body goes through a bounded buffer to the client.
type inProcessWriter struct {
	header http.Header
	sent   http.Header
	status int
	once   sync.Once
	ready  chan struct{}
	body   inProcessBody
}

func (w *inProcessWriter) Header() http.Header { return w.header }

func (w *inProcessWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return
	}
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *inProcessWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.write(p)
}

// writeBuffers writes the buffers as one Write of their concatenation would: the reader
// is woken once, with all of it.
func (w *inProcessWriter) writeBuffers(bufs ...[]byte) error {
	w.WriteHeader(http.StatusOK)
	_, err := w.body.write(bufs...)
	return err
}

// Flush commits the header; written bytes are readable at once, so there is nothing else.
func (w *inProcessWriter) Flush() { w.WriteHeader(http.StatusOK) }

func (w *inProcessWriter) finish() {
	w.WriteHeader(http.StatusOK)
	w.body.closeWrite()
}

// inProcessBody is a bounded in-memory pipe: the handler writes, the client reads.
type inProcessBody struct {
	mu         sync.Mutex
	cond       sync.Cond
	buf        []byte
	off        int
	done       bool // the handler returned
	readClosed bool // the client closed the body
	cancel     context.CancelFunc
}

func (b *inProcessBody) write(bufs ...[]byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf)-b.off > inProcessBuffer && !b.readClosed {
		b.cond.Wait()
	}
	if b.readClosed {
		return 0, io.ErrClosedPipe
	}
	if b.off > 0 && b.off >= len(b.buf)/2 {
		n := copy(b.buf, b.buf[b.off:])
		b.buf, b.off = b.buf[:n], 0
	}
	n := 0
	for _, p := range bufs {
		b.buf = append(b.buf, p...)
		n += len(p)
	}
	b.cond.Broadcast()
	return n, nil
}

func (b *inProcessBody) closeWrite() {
	b.mu.Lock()
	b.done = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *inProcessBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.off == len(b.buf) && !b.done && !b.readClosed {
		b.cond.Wait()
	}
	if b.readClosed {
		return 0, io.ErrClosedPipe
	}
	if b.off == len(b.buf) {
		return 0, io.EOF
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	b.cond.Broadcast()
	return n, nil
}

// Close ends the request: the handler's context is cancelled (a watch returns) and its
// further writes fail.
func (b *inProcessBody) Close() error {
	b.mu.Lock()
	b.readClosed = true
	b.buf, b.off = nil, 0
	b.cond.Broadcast()
	b.mu.Unlock()
	b.cancel()
	return nil
}
