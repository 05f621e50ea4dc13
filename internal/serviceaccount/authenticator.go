package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Getter reads the objects tokens are bound to; a missing object is a NotFound error.
type Getter interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// Info is who a verified token speaks for.
type Info struct {
	Namespace, Name, UID string
	PodName, PodUID      string
	NodeName, NodeUID    string
	// CredentialID is the token's jti, as "JTI=<jti>".
	CredentialID string
}

// Extra keys of a service account's user, kube-apiserver's.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// Groups of every service account, and of those of one namespace (+ ":<ns>").
const GroupServiceAccounts = "system:serviceaccounts"

// UserName is the service account's user name.
func (i Info) UserName() string { return UserPrefix + i.Namespace + ":" + i.Name }

// Groups are the service account's groups (system:authenticated is the caller's to add).
func (i Info) Groups() []string {
	return []string{GroupServiceAccounts, GroupServiceAccounts + ":" + i.Namespace}
}

// Extra is the user's extra information: the bound pod and node and the credential id.
func (i Info) Extra() map[string][]string {
	extra := map[string][]string{}
	add := func(k, v string) {
		if v != "" {
			extra[k] = []string{v}
		}
	}
	add(ExtraPodName, i.PodName)
	add(ExtraPodUID, i.PodUID)
	add(ExtraNodeName, i.NodeName)
	add(ExtraNodeUID, i.NodeUID)
	add(ExtraCredentialID, i.CredentialID)
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// ErrNotOurs says a token was not issued by this authenticator's issuer (or is no JWT):
// the authenticator has no opinion on it.
var ErrNotOurs = errors.New("not a service account token of this issuer")

// Authenticator verifies tokens.
type Authenticator struct {
	issuer    string
	audiences []string
	keys      map[string]*ecdsa.PublicKey
	getter    Getter
	now       func() time.Time
	parser    *jwt.Parser
	// legacyParser verifies legacy tokens: no exp, iat or audience (legacy.go).
	legacyParser *jwt.Parser
	cache        *cache
}

// NewAuthenticator verifies tokens of issuer signed by one of keys that share an audience
// with audiences, looking their objects up through getter; now is the clock (nil for
// time.Now).
func NewAuthenticator(issuer string, audiences []string, keys []*ecdsa.PublicKey, getter Getter, now func() time.Time) (*Authenticator, error) {
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{issuer: issuer, audiences: audiences, keys: map[string]*ecdsa.PublicKey{}, getter: getter, now: now}
	for _, k := range keys {
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		a.keys[kid] = k
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return a.now() }),
	)
	a.legacyParser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithoutClaimsValidation(), // Authenticate checked iss; the signature covers it
	)
	return a, nil
}

// keyFunc picks the verification key of a token by its kid (the only key when it has
// none).
func (a *Authenticator) keyFunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if key, ok := a.keys[kid]; ok {
		return key, nil
	}
	if kid == "" && len(a.keys) == 1 {
		for _, key := range a.keys {
			return key, nil
		}
	}
	return nil, fmt.Errorf("no key with id %q", kid)
}

// Authenticate verifies token. ErrNotOurs means another authenticator may take it; any
// other error refuses it.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Info, error) {
	if strings.Count(token, ".") != 2 {
		return Info{}, ErrNotOurs
	}
	var unverified claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return Info{}, ErrNotOurs
	}
	if unverified.Issuer == LegacyIssuer {
		return a.authenticateLegacy(ctx, token)
	}
	if unverified.Issuer != a.issuer {
		return Info{}, ErrNotOurs
	}
	var c claims
	_, err := a.parser.ParseWithClaims(token, &c, a.keyFunc)
	if err != nil {
		return Info{}, fmt.Errorf("invalid service account token: %w", err)
	}
	want := a.audiences
	asked := audiencesFrom(ctx)
	if asked != nil {
		want = asked.Want
	}
	auds := intersect(c.Audience, want)
	if len(auds) == 0 {
		return Info{}, fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(c.Audience), want)
	}
	pc := c.Kubernetes
	if pc == nil || pc.Namespace == "" || pc.ServiceAccount.Name == "" || pc.ServiceAccount.UID == "" {
		return Info{}, errors.New("service account token claims are incomplete")
	}
	if want := UserPrefix + pc.Namespace + ":" + pc.ServiceAccount.Name; c.Subject != want {
		return Info{}, fmt.Errorf("token subject %q is not %q", c.Subject, want)
	}
	info := Info{Namespace: pc.Namespace, Name: pc.ServiceAccount.Name, UID: pc.ServiceAccount.UID}
	if c.ID != "" {
		info.CredentialID = "JTI=" + c.ID
	}
	if err := a.validateObjects(ctx, pc, &info); err != nil {
		return Info{}, err
	}
	if asked != nil {
		asked.Got = auds
	}
	return info, nil
}

// validateObjects checks that the service account and the object the token is bound to
// still exist with the UIDs it names (or were deleted less than leeway ago).
func (a *Authenticator) validateObjects(ctx context.Context, pc *privateClaims, info *Info) error {
	ns := pc.Namespace
	sa, err := a.getter.ServiceAccount(ctx, ns, pc.ServiceAccount.Name)
	if err := a.check("service account", ns+"/"+pc.ServiceAccount.Name, pc.ServiceAccount.UID, sa, err); err != nil {
		return err
	}
	switch {
	case pc.Pod != nil:
		pod, err := a.getter.Pod(ctx, ns, pc.Pod.Name)
		if err := a.check("pod", ns+"/"+pc.Pod.Name, pc.Pod.UID, pod, err); err != nil {
			return err
		}
		info.PodName, info.PodUID = pc.Pod.Name, pc.Pod.UID
	case pc.Secret != nil:
		secret, err := a.getter.Secret(ctx, ns, pc.Secret.Name)
		if err := a.check("secret", ns+"/"+pc.Secret.Name, pc.Secret.UID, secret, err); err != nil {
			return err
		}
	case pc.Node != nil:
		// A token bound to the node alone; a pod-bound token's node is information.
		node, err := a.getter.Node(ctx, pc.Node.Name)
		if err := a.check("node", pc.Node.Name, pc.Node.UID, node, err); err != nil {
			return err
		}
	}
	if pc.Node != nil {
		info.NodeName, info.NodeUID = pc.Node.Name, pc.Node.UID
	}
	return nil
}

// check verifies one looked-up object against the token's claim.
func (a *Authenticator) check(kind, name, uid string, obj metav1.Object, err error) error {
	if err != nil {
		return lookupError(kind, name, err)
	}
	if string(obj.GetUID()) != uid {
		return fmt.Errorf("%s UID (%s) does not match claim (%s)", kind, obj.GetUID(), uid)
	}
	if dt := obj.GetDeletionTimestamp(); dt != nil && dt.Time.Before(a.now().Add(-leeway)) {
		return fmt.Errorf("service account token has been invalidated: %s %s was deleted at %s", kind, name, dt.Time)
	}
	return nil
}

// lookupError says why a token's object could not be read: gone (the token is
// invalidated) or the lookup failed.
func lookupError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("service account token has been invalidated: %s %s not found", kind, name)
	}
	return fmt.Errorf("looking up %s %s: %w", kind, name, err)
}
