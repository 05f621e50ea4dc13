package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/workpool"
)

type ctxKey int

const userKey ctxKey = iota

// userFrom returns the authenticated user of a request context.
func userFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

func (s *Server) withFilters(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.recovered(w, r, &workpool.Panic{Value: v, Stack: debug.Stack()})
			}
		}()
		path := r.URL.Path
		if path == "/livez" || path == "/readyz" || path == "/healthz" || strings.HasPrefix(path, "/livez/") || strings.HasPrefix(path, "/readyz/") {
			h.ServeHTTP(w, r)
			return
		}
		u, inProcess := r.Context().Value(inProcessUserKey).(User)
		if !inProcess {
			u = User{Name: "admin", Groups: []string{"system:masters"}}
		}
		if !inProcess && s.cfg.Authenticate != nil {
			var ok bool
			if u, ok = s.cfg.Authenticate(r); !ok {
				s.writeError(w, r, &apierrors.StatusError{ErrStatus: metav1.Status{
					Status: metav1.StatusFailure, Code: http.StatusUnauthorized,
					Reason: metav1.StatusReasonUnauthorized, Message: "Unauthorized",
				}})
				return
			}
			if !slices.Contains(u.Groups, groupAuthenticated) {
				u.Groups = append(slices.Clip(u.Groups), groupAuthenticated)
			}
		}
		if !inProcess {
			var err error
			if u, err = s.impersonate(r.Context(), u, r.Header); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), userKey, u))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBody)
		}
		if isLongRunning(r) {
			h.ServeHTTP(w, r)
			return
		}
		select {
		case s.inflight <- struct{}{}:
			defer func() { <-s.inflight }()
		default:
			s.writeError(w, r, apierrors.NewTooManyRequests("Too many requests, please try again later.", 1))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout(r))
		defer cancel()
		r = r.WithContext(ctx)
		// The request itself runs on one of the workers, whose stacks have grown already
		// (workpool): this goroutine, net/http's or the in-process client's, is new.
		if p := s.workers.Run(func() { h.ServeHTTP(w, r) }); p != nil {
			s.recovered(w, r, p)
		}
	})
}

// recovered answers a request whose handler panicked with a 500 and logs where, unless
// the handler aborted on purpose (http.ErrAbortHandler), which goes on up to net/http.
func (s *Server) recovered(w http.ResponseWriter, r *http.Request, p *workpool.Panic) {
	if p.Value == http.ErrAbortHandler {
		panic(p.Value)
	}
	s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p.Value, "stack", string(p.Stack))
	s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("panic: %v", p.Value)))
}

// requestTimeout honours ?timeout= up to the configured maximum.
func (s *Server) requestTimeout(r *http.Request) time.Duration {
	if t := r.URL.Query().Get("timeout"); t != "" {
		if d, err := time.ParseDuration(t); err == nil && d > 0 && d < s.cfg.RequestTimeout {
			return d
		}
	}
	return s.cfg.RequestTimeout
}

func isLongRunning(r *http.Request) bool {
	q := r.URL.Query()
	if watchParam(q) {
		return true
	}
	p := r.URL.Path
	if strings.Contains(p, "/watch/") {
		return true
	}
	for _, sub := range []string{"/log", "/exec", "/attach", "/portforward", "/proxy"} {
		if strings.HasSuffix(p, sub) || strings.Contains(p, sub+"/") {
			return true
		}
	}
	return false
}
