package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSignLegacyClaims(t *testing.T) {
	key := newKey(t)
	s, err := NewSigner(DefaultIssuer, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	secret := &corev1.Secret{ObjectMeta: meta("ns1", "robot-secret", "secret-uid")}
	token, err := s.SignLegacy(sa, secret)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, token, &key.PublicKey)
	c := decodePart(t, token, 1)
	want := map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:ns1:robot",
		"kubernetes.io/serviceaccount/namespace": "ns1",
		"kubernetes.io/serviceaccount/secret.name":          "robot-secret",
		"kubernetes.io/serviceaccount/service-account.name": "robot",
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-uid",
	}
	if len(c) != len(want) {
		t.Errorf("claims = %v, want exactly %v (no exp, iat, aud)", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	other := &corev1.Secret{ObjectMeta: meta("ns2", "x", "u")}
	if _, err := s.SignLegacy(sa, other); err == nil {
		t.Error("a secret of another namespace was signed for")
	}
}

// TestAuthenticateLegacy signs legacy tokens and verifies them against a set of objects,
// each case changing one thing.
func TestAuthenticateLegacy(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "sa-uid")}
	secret := &corev1.Secret{ObjectMeta: meta("ns1", "robot-secret", "secret-uid")}
	signer, err := NewSigner(DefaultIssuer, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := NewSigner(DefaultIssuer, newKey(t), nil)
	token, err := signer.SignLegacy(sa, secret)
	if err != nil {
		t.Fatal(err)
	}
	deleting := &metav1.Time{Time: now}
	robot := Info{Namespace: "ns1", Name: "robot", UID: "sa-uid"}
	cases := []struct {
		name    string
		token   func() string // nil: token
		objects func(o *objects)
		at      time.Duration // verify at now+at
		auds    []string      // WithAudiences
		want    Info
		err     string // substring; "" means accepted
		notOurs bool
	}{
		{name: "held by its secret", want: robot},
		{name: "never expires", at: 10 * 365 * 24 * time.Hour, want: robot},
		{name: "TokenReview for the API's audience", auds: []string{DefaultIssuer}, want: robot},
		{name: "TokenReview for another audience", auds: []string{"vault"}, err: "audiences"},
		{name: "another key", token: func() string { t, _ := otherSigner.SignLegacy(sa, secret); return t }, err: "no key with id"},
		{name: "tampered", token: func() string { return token[:len(token)-4] + "AAAA" }, err: "invalid legacy"},
		{name: "alg none", token: func() string { return legacyWith(t, jwt.SigningMethodNone, nil) }, err: "signing method"},
		{name: "incomplete claims", token: func() string {
			return legacyWith(t, jwt.SigningMethodES256, key, func(c *legacyClaims) { c.ServiceAccountUID = "" })
		}, err: "incomplete"},
		{name: "subject of another account", token: func() string {
			return legacyWith(t, jwt.SigningMethodES256, key, func(c *legacyClaims) { c.Subject = UserPrefix + "ns1:admin" })
		}, err: "subject"},
		{name: "secret gone", objects: func(o *objects) { delete(o.secrets, "ns1/robot-secret") }, err: "secret ns1/robot-secret not found"},
		{name: "secret holds another token", objects: func(o *objects) {
			s := o.secrets["ns1/robot-secret"].DeepCopy()
			s.Data[corev1.ServiceAccountTokenKey] = []byte("other")
			o.secrets["ns1/robot-secret"] = s
		}, err: "does not hold it"},
		{name: "secret emptied", objects: func(o *objects) {
			s := o.secrets["ns1/robot-secret"].DeepCopy()
			s.Data = nil
			o.secrets["ns1/robot-secret"] = s
		}, err: "does not hold it"},
		{name: "secret being deleted", objects: func(o *objects) {
			s := o.secrets["ns1/robot-secret"].DeepCopy()
			s.DeletionTimestamp = deleting
			o.secrets["ns1/robot-secret"] = s
		}, err: "being deleted"},
		{name: "service account gone", objects: func(o *objects) { delete(o.sas, "ns1/robot") }, err: "service account ns1/robot not found"},
		{name: "service account recreated", objects: func(o *objects) {
			o.sas["ns1/robot"] = &corev1.ServiceAccount{ObjectMeta: meta("ns1", "robot", "new")}
		}, err: "service account UID (new) does not match claim (sa-uid)"},
		{name: "service account being deleted", objects: func(o *objects) {
			s := sa.DeepCopy()
			s.DeletionTimestamp = deleting
			o.sas["ns1/robot"] = s
		}, err: "being deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := token
			if tc.token != nil {
				tok = tc.token()
			}
			held := secret.DeepCopy()
			held.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tok)}
			o := objects{
				sas:     map[string]*corev1.ServiceAccount{"ns1/robot": sa},
				secrets: map[string]*corev1.Secret{"ns1/robot-secret": held},
			}
			if tc.objects != nil {
				tc.objects(&o)
			}
			a, err := NewAuthenticator(DefaultIssuer, []string{DefaultIssuer}, []*ecdsa.PublicKey{&key.PublicKey}, o, func() time.Time { return now.Add(tc.at) })
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var auds *Audiences
			if tc.auds != nil {
				auds = &Audiences{Want: tc.auds}
				ctx = WithAudiences(ctx, auds)
			}
			info, err := a.Authenticate(ctx, tok)
			if checkRefusal(t, err, tc.notOurs, tc.err) {
				if info != tc.want {
					t.Errorf("info = %+v\nwant %+v", info, tc.want)
				}
				if auds != nil && len(auds.Got) == 0 {
					t.Errorf("audiences got none of %q", auds.Want)
				}
			}
		})
	}
}

// legacyWith builds a legacy token of robot's claims changed by edit, signed with method
// and key (nil key with none).
func legacyWith(t *testing.T, method jwt.SigningMethod, key *ecdsa.PrivateKey, edits ...func(*legacyClaims)) string {
	t.Helper()
	c := legacyClaims{
		RegisteredClaims:   jwt.RegisteredClaims{Issuer: LegacyIssuer, Subject: UserPrefix + "ns1:robot"},
		Namespace:          "ns1",
		SecretName:         "robot-secret",
		ServiceAccountName: "robot",
		ServiceAccountUID:  "sa-uid",
	}
	for _, e := range edits {
		e(&c)
	}
	tok := jwt.NewWithClaims(method, c)
	var k any = key
	if key == nil {
		k = jwt.UnsafeAllowNoneSignatureType
	} else {
		kid, _ := KeyID(&key.PublicKey)
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
