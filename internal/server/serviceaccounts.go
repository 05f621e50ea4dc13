package server

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/pki"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/serviceaccount"
	"github.com/berth/berth/internal/storage"
)

// saTokens is what the API server needs of the cluster's signing key.
type saTokens struct {
	signer *serviceaccount.Signer
	auth   *serviceaccount.Authenticator
	// openIDConfig and jwks are the issuer's discovery documents.
	openIDConfig, jwks []byte
}

// serviceAccountTokens builds the token signer, authenticator and discovery documents of
// the cluster's signing key (created in storage by the first server).
func serviceAccountTokens(ctx context.Context, store storage.Interface, stores []*registry.Store) (*saTokens, error) {
	key, err := serviceaccount.EnsureKey(ctx, store)
	if err != nil {
		return nil, err
	}
	t := &saTokens{}
	if t.signer, err = serviceaccount.NewSigner(serviceaccount.DefaultIssuer, key, nil); err != nil {
		return nil, err
	}
	keys := []*ecdsa.PublicKey{&key.PublicKey}
	if t.openIDConfig, t.jwks, err = serviceaccount.Discovery(serviceaccount.DefaultIssuer, keys); err != nil {
		return nil, err
	}
	getter := storeGetter{}
	for _, st := range stores {
		if st.Res.GroupVersion.Group != "" {
			continue
		}
		switch st.Res.Name {
		case "serviceaccounts":
			getter.serviceAccounts = st
		case "pods":
			getter.pods = st
		case "secrets":
			getter.secrets = st
		case "nodes":
			getter.nodes = st
		}
	}
	if getter.serviceAccounts == nil || getter.pods == nil || getter.secrets == nil || getter.nodes == nil {
		return nil, fmt.Errorf("service account tokens need the serviceaccounts, pods, secrets and nodes stores")
	}
	auth, err := serviceaccount.NewAuthenticator(serviceaccount.DefaultIssuer, apiAudiences, keys, getter, nil)
	if err != nil {
		return nil, err
	}
	t.auth = auth.WithCache(tokenCacheTTL, 4096)
	return t, nil
}

// tokenCacheTTL is how long a verified token is believed without checking it again
// (kube-apiserver's token success cache TTL).
const tokenCacheTTL = 10 * time.Second

// apiAudiences are the audiences the API server accepts in service account tokens and
// gives tokens that ask for none: the issuer, as kubeadm and k3s configure it.
var apiAudiences = []string{serviceaccount.DefaultIssuer}

// storeGetter reads bound objects from the stores (linearizable reads: a deleted object
// stops its tokens at once).
type storeGetter struct {
	serviceAccounts, pods, secrets, nodes *registry.Store
}

func getAs[T any](ctx context.Context, st *registry.Store, ns, name string) (T, error) {
	var zero T
	obj, err := st.Get(ctx, ns, name)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s/%s: unexpected type %T", st.Res.Name, ns, name, obj)
	}
	return t, nil
}

func (g storeGetter) ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return getAs[*corev1.ServiceAccount](ctx, g.serviceAccounts, ns, name)
}

func (g storeGetter) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return getAs[*corev1.Pod](ctx, g.pods, ns, name)
}

func (g storeGetter) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return getAs[*corev1.Secret](ctx, g.secrets, ns, name)
}

func (g storeGetter) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return getAs[*corev1.Node](ctx, g.nodes, "", name)
}

// authenticator accepts, in kube-apiserver's order, client certificates signed by the
// cluster CA, then bearer tokens: the node token, then service account tokens.
func authenticator(b *pki.Bundle, tokens *serviceaccount.Authenticator, log *slog.Logger) apiserver.Authenticator {
	nodeToken := b.NodeToken
	return func(r *http.Request) (apiserver.User, bool) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			cert := r.TLS.VerifiedChains[0][0]
			return apiserver.User{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}, true
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return apiserver.User{}, false
		}
		if subtleEqual(token, nodeToken) {
			return apiserver.User{Name: apiserver.BootstrapUserName, Groups: []string{apiserver.GroupBootstrap, apiserver.GroupNodes}}, true
		}
		if tokens == nil {
			return apiserver.User{}, false
		}
		info, err := tokens.AuthenticateCached(r.Context(), token)
		if err != nil {
			log.Debug("bearer token refused", "err", err, "path", r.URL.Path)
			return apiserver.User{}, false
		}
		return apiserver.User{Name: info.UserName(), UID: info.UID, Groups: info.Groups(), Extra: info.Extra()}, true
	}
}
