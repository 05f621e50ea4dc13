package serviceaccount

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// cache remembers tokens that verified, keyed by their hash, for a short time: a client
// sends the same token with every request, and verifying it costs a signature check and
// storage reads (≈ as much as serving GET /version). kube-apiserver caches successful
// token authentication for 10 s the same way; a deleted account or pod ends its tokens
// within that time rather than at once. Failures are not cached.
type cache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cached
}

type cached struct {
	info    Info
	expires time.Time
}

// WithCache makes a remember tokens that verified for ttl, at most max of them.
func (a *Authenticator) WithCache(ttl time.Duration, max int) *Authenticator {
	a.cache = &cache{ttl: ttl, max: max, entries: map[[sha256.Size]byte]cached{}}
	return a
}

// AuthenticateCached is Authenticate through the cache, when there is one.
func (a *Authenticator) AuthenticateCached(ctx context.Context, token string) (Info, error) {
	c := a.cache
	if c == nil || audiencesFrom(ctx) != nil {
		return a.Authenticate(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	now := a.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.info, nil
	}
	info, err := a.Authenticate(ctx, token)
	if err != nil {
		return info, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop what has expired; if that frees nothing, start over (a flood of distinct
		// valid tokens is rare, and a miss only costs a verification).
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = cached{info: info, expires: now.Add(c.ttl)}
	return info, nil
}
