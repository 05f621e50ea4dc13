package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
)

// Defaults of kube-apiserver as kubeadm and k3s configure it.
const (
	// DefaultIssuer is the iss of every token and the API's default audience.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// WarnOnlyExpirationSeconds is what the kubelet asks for in kube-api-access volumes;
	// such pod-bound tokens are issued for ExtendedExpiration and carry warnafter.
	WarnOnlyExpirationSeconds = 3607
	// ExtendedExpiration is the lifetime of extended tokens.
	ExtendedExpiration = 365 * 24 * time.Hour
	// leeway is the clock skew allowed on exp, nbf and iat, and how long a deleted bound
	// object keeps its tokens valid.
	leeway = 60 * time.Second
)

// UserPrefix starts a service account's user name.
const UserPrefix = "system:serviceaccount:"

// ref names one object a token is bound to.
type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// privateClaims is the "kubernetes.io" claim.
type privateClaims struct {
	Namespace      string           `json:"namespace"`
	ServiceAccount ref              `json:"serviceaccount"`
	Pod            *ref             `json:"pod,omitempty"`
	Secret         *ref             `json:"secret,omitempty"`
	Node           *ref             `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type claims struct {
	jwt.RegisteredClaims
	Kubernetes *privateClaims `json:"kubernetes.io,omitempty"`
}

// Request is what one token is issued for. ServiceAccount is required; at most one of
// Pod, Secret and Node binds the token (a pod-bound token may also name the pod's Node).
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	Pod            *corev1.Pod
	Secret         *corev1.Secret
	Node           *corev1.Node
	Audiences      []string
	// Expires is the token's exp; WarnAfter, when set, its warnafter (extended tokens).
	Expires   time.Time
	WarnAfter time.Time
}

// Signer issues tokens.
type Signer struct {
	issuer string
	key    *ecdsa.PrivateKey
	kid    string
	now    func() time.Time
}

// NewSigner signs tokens of issuer with key (a P-256 key: ES256); now is the clock (nil
// for time.Now).
func NewSigner(issuer string, key *ecdsa.PrivateKey, now func() time.Time) (*Signer, error) {
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{issuer: issuer, key: key, kid: kid, now: now}, nil
}

// Sign issues the token req describes.
func (s *Signer) Sign(req Request) (string, error) {
	sa := req.ServiceAccount
	if sa == nil {
		return "", errors.New("a token needs a service account")
	}
	now := s.now()
	pc := &privateClaims{
		Namespace:      sa.Namespace,
		ServiceAccount: ref{Name: sa.Name, UID: string(sa.UID)},
	}
	switch {
	case req.Pod != nil:
		pc.Pod = &ref{Name: req.Pod.Name, UID: string(req.Pod.UID)}
	case req.Secret != nil:
		pc.Secret = &ref{Name: req.Secret.Name, UID: string(req.Secret.UID)}
	}
	if req.Node != nil {
		pc.Node = &ref{Name: req.Node.Name, UID: string(req.Node.UID)}
	}
	if !req.WarnAfter.IsZero() {
		pc.WarnAfter = jwt.NewNumericDate(req.WarnAfter)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   UserPrefix + sa.Namespace + ":" + sa.Name,
			Audience:  req.Audiences,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(req.Expires),
			ID:        uuid.NewString(),
		},
		Kubernetes: pc,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = s.kid
	return tok.SignedString(s.key)
}

// KeyID is kube-apiserver's key id of a public key: base64url(sha256(PKIX DER)).
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
