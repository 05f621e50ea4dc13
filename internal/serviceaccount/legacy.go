package serviceaccount

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
)

// Legacy (secret-based) service account tokens: what kube-controller-manager's tokens
// controller writes into Secrets of type kubernetes.io/service-account-token. They carry
// kube-apiserver's legacy claims, never expire and stay valid while the Secret holds the
// token and the account exists with the UID they name.
const (
	// LegacyIssuer is the iss of every legacy token.
	LegacyIssuer = "kubernetes/serviceaccount"
	// Annotations of a service-account-token Secret, Kubernetes' names.
	ServiceAccountNameAnnotation = corev1.ServiceAccountNameKey
	ServiceAccountUIDAnnotation  = corev1.ServiceAccountUIDKey
)

// legacyClaims are kube-apiserver's legacy claims.
type legacyClaims struct {
	jwt.RegisteredClaims
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
}

// SignLegacy issues the legacy token that secret (of type kubernetes.io/service-account-
// token, in sa's namespace) holds for sa, with the signer's key and key id.
func (s *Signer) SignLegacy(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error) {
	if sa == nil || secret == nil {
		return "", errors.New("a legacy token needs a service account and a secret")
	}
	if sa.Namespace != secret.Namespace {
		return "", fmt.Errorf("secret %s/%s is not in the namespace of service account %s/%s", secret.Namespace, secret.Name, sa.Namespace, sa.Name)
	}
	c := legacyClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:  LegacyIssuer,
			Subject: UserPrefix + sa.Namespace + ":" + sa.Name,
		},
		Namespace:          sa.Namespace,
		SecretName:         secret.Name,
		ServiceAccountName: sa.Name,
		ServiceAccountUID:  string(sa.UID),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = s.kid
	return tok.SignedString(s.key)
}

// authenticateLegacy verifies a token whose unverified iss is LegacyIssuer, as
// kube-apiserver's legacy validator: a valid signature of one of our keys, no audience
// or expiry, complete claims, the account existing with the claimed UID and the Secret
// existing and holding exactly this token, neither being deleted.
func (a *Authenticator) authenticateLegacy(ctx context.Context, token string) (Info, error) {
	var c legacyClaims
	_, err := a.legacyParser.ParseWithClaims(token, &c, a.keyFunc)
	if err != nil {
		return Info{}, fmt.Errorf("invalid legacy service account token: %w", err)
	}
	if c.Namespace == "" || c.SecretName == "" || c.ServiceAccountName == "" || c.ServiceAccountUID == "" {
		return Info{}, errors.New("legacy service account token claims are incomplete")
	}
	if want := UserPrefix + c.Namespace + ":" + c.ServiceAccountName; c.Subject != want {
		return Info{}, fmt.Errorf("token subject %q is not %q", c.Subject, want)
	}
	if asked := audiencesFrom(ctx); asked != nil {
		// Legacy tokens carry no audience: they are the API's alone.
		if len(intersect(a.audiences, asked.Want)) == 0 {
			return Info{}, fmt.Errorf("legacy token is invalid for the target audiences %q", asked.Want)
		}
	}
	ns := c.Namespace
	secret, err := a.getter.Secret(ctx, ns, c.SecretName)
	if err != nil {
		return Info{}, lookupError("secret", ns+"/"+c.SecretName, err)
	}
	if secret.DeletionTimestamp != nil {
		return Info{}, fmt.Errorf("service account token has been invalidated: secret %s/%s is being deleted", ns, c.SecretName)
	}
	if subtle.ConstantTimeCompare(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) != 1 {
		return Info{}, fmt.Errorf("service account token has been invalidated: secret %s/%s does not hold it", ns, c.SecretName)
	}
	sa, err := a.getter.ServiceAccount(ctx, ns, c.ServiceAccountName)
	if err != nil {
		return Info{}, lookupError("service account", ns+"/"+c.ServiceAccountName, err)
	}
	if string(sa.UID) != c.ServiceAccountUID {
		return Info{}, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccountUID)
	}
	if sa.DeletionTimestamp != nil {
		return Info{}, fmt.Errorf("service account token has been invalidated: service account %s/%s is being deleted", ns, c.ServiceAccountName)
	}
	if asked := audiencesFrom(ctx); asked != nil {
		asked.Got = intersect(a.audiences, asked.Want)
	}
	return Info{Namespace: ns, Name: c.ServiceAccountName, UID: c.ServiceAccountUID}, nil
}
