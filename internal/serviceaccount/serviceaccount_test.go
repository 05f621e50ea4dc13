package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/internal/storage/memory"
)

// objects is a Getter over maps.
type objects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func notFound(res, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (o objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := o.sas[ns+"/"+name]; ok {
		return sa, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (o objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if p, ok := o.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, notFound("pods", name)
}

func (o objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, notFound("secrets", name)
}

func (o objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if n, ok := o.nodes[name]; ok {
		return n, nil
	}
	return nil, notFound("nodes", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// checkHeader checks that token's JOSE header names ES256 and the key id of pub.
func checkHeader(t *testing.T, token string, pub *ecdsa.PublicKey) {
	t.Helper()
	header := decodePart(t, token, 0)
	kid, _ := KeyID(pub)
	if header["alg"] != "ES256" || header["kid"] != kid {
		t.Errorf("header = %v, want alg ES256 and kid %s", header, kid)
	}
}

// decodePart decodes one base64url part of a compact JWS into a map.
func decodePart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignClaims(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	s, err := NewSigner(DefaultIssuer, key, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	pod := &corev1.Pod{ObjectMeta: meta("ns1", "p", "pod-uid")}
	node := &corev1.Node{ObjectMeta: meta("", "n1", "node-uid")}
	token, err := s.Sign(Request{ServiceAccount: sa, Pod: pod, Node: node, Audiences: []string{"api"},
		Expires: now.Add(ExtendedExpiration), WarnAfter: now.Add(WarnOnlyExpirationSeconds * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, token, &key.PublicKey)
	c := decodePart(t, token, 1)
	want := map[string]any{
		"iss": DefaultIssuer, "sub": "system:serviceaccount:ns1:robot", "aud": []any{"api"},
		"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(ExtendedExpiration).Unix()),
	}
	for k, v := range want {
		got, _ := json.Marshal(c[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("claim %s = %s, want %s", k, got, exp)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %v, want a UUID", c["jti"])
	}
	k8s, _ := json.Marshal(c["kubernetes.io"])
	wantK8s := `{"namespace":"ns1","node":{"name":"n1","uid":"node-uid"},"pod":{"name":"p","uid":"pod-uid"},"serviceaccount":{"name":"robot","uid":"sa-uid"},"warnafter":1800003607}`
	if string(k8s) != wantK8s {
		t.Errorf("kubernetes.io = %s\nwant %s", k8s, wantK8s)
	}
}

// TestAuthenticate signs tokens and verifies them against a set of objects, each case
// changing one thing.
func TestAuthenticate(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	pod := &corev1.Pod{ObjectMeta: meta("ns1", "p", "pod-uid")}
	secret := &corev1.Secret{ObjectMeta: meta("ns1", "s", "secret-uid")}
	node := &corev1.Node{ObjectMeta: meta("", "n1", "node-uid")}
	signer, err := NewSigner(DefaultIssuer, key, clock)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := NewSigner(DefaultIssuer, newKey(t), clock)
	foreignSigner, _ := NewSigner("https://elsewhere", key, clock)
	plain := Request{ServiceAccount: sa, Audiences: []string{DefaultIssuer}, Expires: now.Add(time.Hour)}
	with := func(f func(*Request)) Request { r := plain; f(&r); return r }
	deleted := func(ago time.Duration) *metav1.Time { ts := metav1.NewTime(now.Add(-ago)); return &ts }

	cases := []struct {
		name    string
		signer  *Signer
		req     Request
		token   string // instead of signing req
		objects func(o *objects)
		at      time.Duration // verify at now+at
		want    Info
		err     string // substring; "" means accepted
		notOurs bool
	}{
		{name: "plain", req: plain,
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid"}},
		{name: "pod-bound names pod and node", req: with(func(r *Request) { r.Pod, r.Node = pod, node }),
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid", PodName: "p", PodUID: "pod-uid", NodeName: "n1", NodeUID: "node-uid"}},
		{name: "secret-bound", req: with(func(r *Request) { r.Secret = secret }),
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid"}},
		{name: "node-bound", req: with(func(r *Request) { r.Node = node }),
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid", NodeName: "n1", NodeUID: "node-uid"}},
		{name: "one shared audience is enough", req: with(func(r *Request) { r.Audiences = []string{"x", DefaultIssuer} }),
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid"}},
		{name: "within leeway after exp", req: plain, at: time.Hour + 50*time.Second,
			want: Info{Namespace: "ns1", Name: "robot", UID: "sa-uid"}},
		{name: "pod deleted 30s ago still counts", req: with(func(r *Request) { r.Pod = pod }),
			objects: func(o *objects) { p := *pod; p.DeletionTimestamp = deleted(30 * time.Second); o.pods["ns1/p"] = &p },
			want:    Info{Namespace: "ns1", Name: "robot", UID: "sa-uid", PodName: "p", PodUID: "pod-uid"}},

		{name: "another issuer", signer: foreignSigner, req: plain, notOurs: true},
		{name: "not a JWT", token: "abc", notOurs: true},
		{name: "garbage with dots", token: "a.b.c", notOurs: true},
		{name: "another key", signer: otherSigner, req: plain, err: "no key with id"},
		{name: "alg none", token: unsigned(t, jwt.SigningMethodNone, plain, now), err: "signing method"},
		{name: "HS256", token: unsigned(t, jwt.SigningMethodHS256, plain, now), err: "signing method"},
		{name: "foreign audience", req: with(func(r *Request) { r.Audiences = []string{"x"} }), err: "audiences"},
		{name: "expired", req: plain, at: time.Hour + 61*time.Second, err: "expired"},
		{name: "not valid yet", req: plain, at: -2 * time.Minute, err: "not valid yet"},
		{name: "service account gone", req: plain, objects: func(o *objects) { delete(o.sas, "ns1/robot") }, err: "invalidated"},
		{name: "service account recreated", req: plain,
			objects: func(o *objects) { o.sas["ns1/robot"] = &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "new")} },
			err:     "service account UID (new) does not match claim (sa-uid)"},
		{name: "pod gone", req: with(func(r *Request) { r.Pod = pod }), objects: func(o *objects) { delete(o.pods, "ns1/p") }, err: "pod ns1/p not found"},
		{name: "pod deleted 2m ago", req: with(func(r *Request) { r.Pod = pod }),
			objects: func(o *objects) { p := *pod; p.DeletionTimestamp = deleted(2 * time.Minute); o.pods["ns1/p"] = &p },
			err:     "was deleted"},
		{name: "secret recreated", req: with(func(r *Request) { r.Secret = secret }),
			objects: func(o *objects) { o.secrets["ns1/s"] = &corev1.Secret{ObjectMeta: meta("ns1", "s", "other")} }, err: "secret UID"},
		{name: "node gone", req: with(func(r *Request) { r.Node = node }), objects: func(o *objects) { delete(o.nodes, "n1") }, err: "node n1 not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := objects{
				sas:     map[string]*corev1.ServiceAccount{"ns1/robot": sa},
				pods:    map[string]*corev1.Pod{"ns1/p": pod},
				secrets: map[string]*corev1.Secret{"ns1/s": secret},
				nodes:   map[string]*corev1.Node{"n1": node},
			}
			if tc.objects != nil {
				tc.objects(&o)
			}
			token := tc.token
			if token == "" {
				s := tc.signer
				if s == nil {
					s = signer
				}
				var err error
				if token, err = s.Sign(tc.req); err != nil {
					t.Fatal(err)
				}
			}
			a, err := NewAuthenticator(DefaultIssuer, []string{DefaultIssuer}, []*ecdsa.PublicKey{&key.PublicKey}, o, func() time.Time { return now.Add(tc.at) })
			if err != nil {
				t.Fatal(err)
			}
			info, err := a.Authenticate(context.Background(), token)
			if checkRefusal(t, err, tc.notOurs, tc.err) {
				if !strings.HasPrefix(info.CredentialID, "JTI=") {
					t.Errorf("credential id %q", info.CredentialID)
				}
				info.CredentialID = ""
				if info != tc.want {
					t.Errorf("info = %+v\nwant %+v", info, tc.want)
				}
			}
		})
	}
}

// unsigned builds a token of req's claims with method (none or HS256), which the
// authenticator must refuse.
func unsigned(t *testing.T, method jwt.SigningMethod, req Request, now time.Time) string {
	t.Helper()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: DefaultIssuer, Subject: UserPrefix + "ns1:robot",
			Audience: req.Audiences, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(req.Expires)},
		Kubernetes: &privateClaims{Namespace: "ns1", ServiceAccount: ref{Name: "robot", UID: "sa-uid"}},
	}
	var key any = []byte("secret")
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInfoUser(t *testing.T) {
	i := Info{Namespace: "ns1", Name: "robot", PodName: "p", PodUID: "u", CredentialID: "JTI=x"}
	if i.UserName() != "system:serviceaccount:ns1:robot" {
		t.Errorf("name %q", i.UserName())
	}
	if g := strings.Join(i.Groups(), ","); g != "system:serviceaccounts,system:serviceaccounts:ns1" {
		t.Errorf("groups %q", g)
	}
	extra := i.Extra()
	if len(extra) != 3 || extra[ExtraPodName][0] != "p" || extra[ExtraCredentialID][0] != "JTI=x" {
		t.Errorf("extra %v", extra)
	}
}

// TestEnsureKey: concurrent servers on one store end up with one key, which a later
// call reads back.
func TestEnsureKey(t *testing.T) {
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	keys := make([]*ecdsa.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := EnsureKey(ctx, store)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	again, err := EnsureKey(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if k == nil || !k.Equal(again) {
			t.Fatalf("key %d differs from the stored one", i)
		}
	}
	if _, err := store.Update(ctx, SigningKeyStorageKey, []byte("junk"), mustRev(t, store)); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKey(ctx, store); err == nil || !strings.Contains(err.Error(), "not a PEM EC private key") {
		t.Errorf("a corrupt key gave %v", err)
	}
}

func mustRev(t *testing.T, store *memory.Store) int64 {
	kv, err := store.Get(context.Background(), SigningKeyStorageKey)
	if err != nil {
		t.Fatal(err)
	}
	return kv.ModRevision
}

// TestAuthenticateCached: a verified token is believed for the cache's TTL (its account
// may be gone meanwhile), then verified again; failures are not remembered.
func TestAuthenticateCached(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	o := objects{sas: map[string]*corev1.ServiceAccount{}}
	signer, _ := NewSigner(DefaultIssuer, key, clock)
	token, err := signer.Sign(Request{ServiceAccount: sa, Audiences: []string{DefaultIssuer}, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(DefaultIssuer, []string{DefaultIssuer}, []*ecdsa.PublicKey{&key.PublicKey}, o, clock)
	if err != nil {
		t.Fatal(err)
	}
	a.WithCache(10*time.Second, 2)
	ctx := context.Background()
	if _, err := a.AuthenticateCached(ctx, token); err == nil {
		t.Fatal("a token of a missing account verified")
	}
	o.sas["ns1/robot"] = sa // the failure was not cached
	if _, err := a.AuthenticateCached(ctx, token); err != nil {
		t.Fatal(err)
	}
	delete(o.sas, "ns1/robot")
	now = now.Add(9 * time.Second)
	if info, err := a.AuthenticateCached(ctx, token); err != nil || info.Name != "robot" {
		t.Fatalf("within the TTL: %+v, %v", info, err)
	}
	now = now.Add(2 * time.Second)
	if _, err := a.AuthenticateCached(ctx, token); err == nil {
		t.Fatal("after the TTL the token still verified without its account")
	}
	// A full cache makes room.
	o.sas["ns1/robot"] = sa
	for i := range 5 {
		tok, _ := signer.Sign(Request{ServiceAccount: sa, Audiences: []string{DefaultIssuer}, Expires: now.Add(time.Duration(i+1) * time.Hour)})
		if _, err := a.AuthenticateCached(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := len(a.cache.entries); n > 2 {
			t.Fatalf("%d entries in a cache of 2", n)
		}
	}
}

// TestDiscovery: the JWKS holds the public key (its point and kid), and the
// configuration names the issuer and where the JWKS is.
func TestDiscovery(t *testing.T) {
	key := newKey(t)
	config, jwks, err := Discovery(DefaultIssuer, []*ecdsa.PublicKey{&key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(config, &c); err != nil {
		t.Fatal(err)
	}
	if c["issuer"] != DefaultIssuer || c["jwks_uri"] != DefaultIssuer+"/openid/v1/jwks" {
		t.Errorf("configuration %s", config)
	}
	var set struct {
		Keys []struct{ Kty, Crv, Alg, Use, Kid, X, Y string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", jwks, err)
	}
	k := set.Keys[0]
	kid, _ := KeyID(&key.PublicKey)
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	want, _ := key.PublicKey.ECDH()
	if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" || k.Kid != kid ||
		string(append(append([]byte{4}, x...), y...)) != string(want.Bytes()) {
		t.Errorf("jwk %+v", k)
	}
}

// TestAuthenticateAudiences: a context's Audiences replace the API's (TokenReview with
// spec.audiences), past the cache, and tell which of them the token carries.
func TestAuthenticateAudiences(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	o := objects{sas: map[string]*corev1.ServiceAccount{"ns1/robot": sa}}
	signer, err := NewSigner(DefaultIssuer, key, clock)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(DefaultIssuer, []string{DefaultIssuer}, []*ecdsa.PublicKey{&key.PublicKey}, o, clock)
	if err != nil {
		t.Fatal(err)
	}
	a.WithCache(time.Minute, 10)
	sign := func(auds ...string) string {
		token, err := signer.Sign(Request{ServiceAccount: sa, Audiences: auds, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	apiToken := sign(DefaultIssuer)
	if _, err := a.AuthenticateCached(context.Background(), apiToken); err != nil {
		t.Fatal(err) // now cached
	}
	for _, tc := range []struct {
		name  string
		token string
		want  []string
		got   []string // nil: refused
	}{
		{"the API's token, cached for the API, asked for x", apiToken, []string{"x"}, nil},
		{"the API's token for the API", apiToken, []string{DefaultIssuer}, []string{DefaultIssuer}},
		{"x's token for x", sign("x"), []string{"x"}, []string{"x"}},
		{"x and y's token for y and z", sign("x", "y"), []string{"z", "y"}, []string{"y"}},
		{"x's token for the API", sign("x"), []string{DefaultIssuer}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auds := &Audiences{Want: tc.want}
			_, err := a.AuthenticateCached(WithAudiences(context.Background(), auds), tc.token)
			switch {
			case tc.got == nil && (err == nil || !strings.Contains(err.Error(), "is invalid for the target audiences")):
				t.Errorf("err %v, want the audiences refused", err)
			case tc.got != nil && err != nil:
				t.Errorf("err %v", err)
			case fmt.Sprint(auds.Got) != fmt.Sprint(tc.got) && tc.got != nil:
				t.Errorf("got audiences %v, want %v", auds.Got, tc.got)
			}
		})
	}
}

// checkRefusal checks an Authenticate error against a case: ErrNotOurs when notOurs, an
// error containing want when want is set; it reports whether the token was to be
// accepted (and was).
func checkRefusal(t *testing.T, err error, notOurs bool, want string) bool {
	t.Helper()
	switch {
	case notOurs:
		if !errors.Is(err, ErrNotOurs) {
			t.Fatalf("err = %v, want ErrNotOurs", err)
		}
		return false
	case want != "":
		if err == nil || errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want one containing %q", err, want)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
