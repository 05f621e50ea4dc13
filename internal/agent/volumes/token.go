package volumes

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

const (
	// A token is refreshed once older than 80% of its TTL or than tokenMaxAge, whichever
	// comes first, less up to tokenMaxJitter (the kubelet's token manager).
	tokenMaxAge    = 24 * time.Hour
	tokenMaxJitter = 10 * time.Second
	// tokenRetry is how soon the refresh loop tries again after a refresh that did not
	// give a new token (an API error, or a pod whose volume is not set up yet).
	tokenRetry = 10 * time.Second
)

// tokenKey names one cached token: what its TokenRequest asked for.
type tokenKey struct {
	namespace, serviceAccount, audience string
	expirationSeconds                   int64
	podUID                              types.UID
}

// cachedToken is a TokenRequest the API answered and when to replace it.
type cachedToken struct {
	tr *authenticationv1.TokenRequest
	// issuedAt is status.expirationTimestamp − spec.expirationSeconds: the age an
	// extended (one-year) token is judged by is the one its status claims.
	issuedAt, expires time.Time
	// refreshAt: a read from then on asks the API for a new token.
	refreshAt time.Time
	// wakeAt: when the refresh loop next rewrites the pod's volumes for this token
	// (refreshAt, or a retry after a refresh that did not happen).
	wakeAt time.Time
}

// tokens caches the service-account tokens projected volumes show, as the kubelet's
// token manager does, and tells its refresh loop when the earliest one is due.
type tokens struct {
	client kubernetes.Interface
	clock  clock.Clock
	log    *slog.Logger
	jitter func() time.Duration

	mu    sync.Mutex
	cache map[tokenKey]*cachedToken
	// changed wakes the refresh loop when the earliest wakeAt may have moved.
	changed chan struct{}
}

func newTokens(client kubernetes.Interface, clk clock.Clock, log *slog.Logger) *tokens {
	return &tokens{
		client: client, clock: clk, log: log,
		jitter:  func() time.Duration { return rand.N(tokenMaxJitter) },
		cache:   map[tokenKey]*cachedToken{},
		changed: make(chan struct{}, 1),
	}
}

// token returns the token a projected serviceAccountToken source shows for pod: the
// cached one until it needs a refresh, then a new one from the TokenRequest API. A
// failed refresh keeps serving the old token while it has not expired.
func (t *tokens) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	if pod.Spec.ServiceAccountName == "" {
		return nil, fmt.Errorf("failed to fetch token: pod %s/%s has no serviceAccountName", pod.Namespace, pod.Name)
	}
	key := tokenKey{namespace: pod.Namespace, serviceAccount: pod.Spec.ServiceAccountName,
		audience: src.Audience, podUID: pod.UID}
	if src.ExpirationSeconds != nil {
		key.expirationSeconds = *src.ExpirationSeconds
	}
	now := t.clock.Now()
	t.mu.Lock()
	old := t.cache[key]
	t.mu.Unlock()
	if old != nil && !old.needsRefresh(now) {
		return []byte(old.tr.Status.Token), nil
	}

	var audiences []string // nil: the API server's audiences
	if src.Audience != "" {
		audiences = []string{src.Audience}
	}
	tr, err := t.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		}}, metav1.CreateOptions{})
	if err == nil && tr.Status.Token == "" {
		err = fmt.Errorf("the TokenRequest for serviceaccount %s/%s answered no token", key.namespace, key.serviceAccount)
	}
	if err != nil {
		switch {
		case old == nil:
			return nil, fmt.Errorf("failed to fetch token: %w", err)
		case !now.Before(old.expires):
			t.retryLater(key, old, now)
			return nil, fmt.Errorf("token for serviceaccount %s/%s (pod %s/%s) expired and refresh failed: %w",
				key.namespace, key.serviceAccount, pod.Namespace, pod.Name, err)
		default:
			t.log.Warn("refresh service account token; the old one stays until it expires", "pod", pod.Namespace+"/"+pod.Name,
				"serviceAccount", key.serviceAccount, "audience", key.audience, "expires", old.expires, "err", err)
			t.retryLater(key, old, now)
			return []byte(old.tr.Status.Token), nil
		}
	}
	c := t.entry(tr, src.ExpirationSeconds, now)
	t.mu.Lock()
	t.cache[key] = c
	t.mu.Unlock()
	t.poke()
	return []byte(tr.Status.Token), nil
}

// entry computes when a token the API just answered is due for a refresh.
func (t *tokens) entry(tr *authenticationv1.TokenRequest, asked *int64, now time.Time) *cachedToken {
	c := &cachedToken{tr: tr, expires: tr.Status.ExpirationTimestamp.Time}
	ttlSeconds := tr.Spec.ExpirationSeconds
	if ttlSeconds == nil {
		ttlSeconds = asked
	}
	if ttlSeconds != nil {
		c.issuedAt = c.expires.Add(-time.Duration(*ttlSeconds) * time.Second)
	} else {
		c.issuedAt = now // an answer without its spec: judge the token from now
	}
	ttl := c.expires.Sub(c.issuedAt)
	jitter := t.jitter()
	c.refreshAt = c.issuedAt.Add(ttl * 8 / 10)
	if limit := c.issuedAt.Add(tokenMaxAge); limit.Before(c.refreshAt) {
		c.refreshAt = limit
	}
	c.refreshAt = c.refreshAt.Add(-jitter)
	c.wakeAt = c.refreshAt
	return c
}

// needsRefresh: the token is due, or the clock went back before it was issued.
func (c *cachedToken) needsRefresh(now time.Time) bool {
	return !now.Before(c.refreshAt) || now.Before(c.issuedAt)
}

// retryLater moves the loop's next attempt for a token that could not be replaced.
func (t *tokens) retryLater(key tokenKey, c *cachedToken, now time.Time) {
	t.mu.Lock()
	if t.cache[key] == c {
		c.wakeAt = now.Add(tokenRetry)
	}
	t.mu.Unlock()
	t.poke()
}

// forget drops the tokens of a pod; the refresh loop stops asking for them.
func (t *tokens) forget(uid types.UID) {
	t.mu.Lock()
	for key := range t.cache {
		if key.podUID == uid {
			delete(t.cache, key)
		}
	}
	t.mu.Unlock()
	t.poke()
}

func (t *tokens) poke() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// next is the earliest wakeAt of the cache (ok false when it is empty).
func (t *tokens) next() (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cache {
		if !ok || c.wakeAt.Before(at) {
			at, ok = c.wakeAt, true
		}
	}
	return at, ok
}

// due returns the pods with a token due at now and moves those tokens' next wake-up to
// a retry: a refresh that gets a new token replaces the entry (and its wakeAt), one that
// does not (the volume is gone, the API failed) is tried again later, not in a loop.
func (t *tokens) due(now time.Time) []types.UID {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[types.UID]bool{}
	var uids []types.UID
	for key, c := range t.cache {
		if now.Before(c.wakeAt) {
			continue
		}
		c.wakeAt = now.Add(tokenRetry)
		if !seen[key.podUID] {
			seen[key.podUID] = true
			uids = append(uids, key.podUID)
		}
	}
	return uids
}

// run keeps one timer to the earliest wake-up among cached tokens and, when it fires,
// rewrites the volumes of the pods concerned through refresh (which reads the tokens
// again, getting new ones). It returns when ctx ends.
func (t *tokens) run(ctx context.Context, refresh func(types.UID)) {
	for {
		// What changed before next() looks is accounted for: no wake-up for it.
		select {
		case <-t.changed:
		default:
		}
		at, ok := t.next()
		var timer clock.Timer
		var fire <-chan time.Time
		if ok {
			timer = t.clock.NewTimer(at.Sub(t.clock.Now()))
			fire = timer.C()
			// Checked after the timer exists: a clock that passed at while the timer
			// was being made would not fire it.
			if !t.clock.Now().Before(at) {
				timer.Stop()
				for _, uid := range t.due(t.clock.Now()) {
					refresh(uid)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-t.changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}
