package apiserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"

	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/serviceaccount"
	"github.com/berth/berth/internal/workpool"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra is what the authenticator adds (a service account token's pod and node).
	Extra map[string][]string
}

// Authenticator identifies the caller of a request; ok is false for anonymous requests.
type Authenticator func(r *http.Request) (u User, ok bool)

// Config wires a Server.
type Config struct {
	Codecs *registry.Codecs
	Stores []*registry.Store
	// Authenticate identifies callers; nil lets every request through as admin (tests).
	Authenticate Authenticator
	// OpenAPI serves /openapi/v2 and /openapi/v3[/...]; nil gives 404s.
	OpenAPI http.Handler
	// TypeConverter enables managed fields and server-side apply; nil disables both. It
	// is called once, on the first write, so that building schemas stays off start-up.
	TypeConverter func() (managedfields.TypeConverter, error)
	// IssueNodeCert signs node credentials for joining agents; nil disables joining.
	IssueNodeCert NodeCertIssuer
	// IssueNodeServingCert signs nodes' streaming endpoint certificates; nil: nodes
	// serve self-signed ones.
	IssueNodeServingCert NodeServingCertIssuer
	// TokenSigner issues service-account tokens (serviceaccounts/token); nil answers
	// 404. APIAudiences are the audiences of tokens that name none.
	TokenSigner  *serviceaccount.Signer
	APIAudiences []string
	// OpenIDConfiguration and JWKS are the service account issuer's discovery documents
	// (serviceaccount.Discovery), served to service accounts and admins; nil: 404.
	OpenIDConfiguration, JWKS []byte
	// NodeTransport reaches nodes' streaming endpoints (pods/log, exec, attach,
	// portforward) with the API server's client certificate; nil answers 503.
	NodeTransport *http.Transport
	// Ready reports whether the server can serve (storage reachable).
	Ready   func() error
	Version version.Info
	Log     *slog.Logger
	// MaxRequestBody caps request bodies (default 3 MiB).
	MaxRequestBody int64
	// MaxInFlight caps concurrent non-watch requests (default 400); more get 429.
	MaxInFlight int
	// RequestTimeout bounds non-watch requests (default 60 s).
	RequestTimeout time.Duration
	// WatchBookmarkInterval is passed to storage watches (informational).
	Now func() time.Time
}

// KubernetesVersion is the Kubernetes version whose API berth serves (that of its
// k8s.io modules); /version reports it when Config.Version is empty (in-process servers).
const KubernetesVersion = "v1.37.2"

// Server serves the Kubernetes API over registry stores.
type Server struct {
	cfg          Config
	codecs       *registry.Codecs
	log          *slog.Logger
	stores       map[schema.GroupVersionResource]*registry.Store
	groups       map[string][]string // group → versions, "" is the legacy group
	managersOnce sync.Once
	managers     map[schema.GroupVersionResource]*fieldManagers
	inflight     chan struct{}
	workers      *workpool.Pool // one per in-flight slot at most
	// encodings shares watch objects' encodings between watchers.
	encodings *encodingCache
	// params decodes query parameters into ListOptions, DeleteOptions, ...
	params runtime.ParameterCodec
	// optionsCodecs decode DeleteOptions bodies.
	optionsCodecs serializer.CodecFactory
	now           func() time.Time
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.MaxRequestBody == 0 {
		cfg.MaxRequestBody = 3 << 20
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 400
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version.GitVersion == "" {
		cfg.Version = version.Info{
			Major: "1", Minor: "37", GitVersion: KubernetesVersion + "+berth",
			GoVersion: goruntime.Version(), Compiler: goruntime.Compiler, Platform: goruntime.GOOS + "/" + goruntime.GOARCH,
		}
	}
	s := &Server{
		cfg:       cfg,
		codecs:    cfg.Codecs,
		log:       cfg.Log,
		stores:    map[schema.GroupVersionResource]*registry.Store{},
		groups:    map[string][]string{},
		managers:  map[schema.GroupVersionResource]*fieldManagers{},
		inflight:  make(chan struct{}, cfg.MaxInFlight),
		workers:   workpool.New(cfg.MaxInFlight),
		encodings: newEncodingCache(watchEncodings),
		params:    runtime.NewParameterCodec(cfg.Codecs.Scheme),
		now:       cfg.Now,
	}
	var gvs []schema.GroupVersion
	for _, st := range cfg.Stores {
		gvr := st.Res.GVR()
		s.stores[gvr] = st
		if !contains(s.groups[gvr.Group], gvr.Version) {
			s.groups[gvr.Group] = append(s.groups[gvr.Group], gvr.Version)
			gvs = append(gvs, gvr.GroupVersion())
		}
	}
	for _, gv := range virtualGroupVersions {
		if !contains(s.groups[gv.Group], gv.Version) {
			s.groups[gv.Group] = append(s.groups[gv.Group], gv.Version)
		}
	}
	s.optionsCodecs = newOptionsCodecs(gvs)
	return s, nil
}

// fieldManagersFor returns the field managers of a resource, building all of them on
// first use; nil when managed fields are off.
func (s *Server) fieldManagersFor(gvr schema.GroupVersionResource) *fieldManagers {
	s.managersOnce.Do(func() {
		if s.cfg.TypeConverter == nil {
			return
		}
		tc, err := s.cfg.TypeConverter()
		if err != nil {
			s.log.Error("managed fields disabled: no type converter", "err", err)
			return
		}
		for gvr, st := range s.stores {
			fm, err := newFieldManagers(tc, s.codecs, st.Res)
			if err != nil {
				s.log.Error("managed fields disabled for resource", "resource", gvr.String(), "err", err)
				continue
			}
			s.managers[gvr] = fm
		}
	})
	return s.managers[gvr]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Handler returns the full HTTP handler with authentication, limits and recovery.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, h := range []struct {
		name   string
		checks []healthCheck
	}{
		{"livez", s.healthChecks(nil)},
		{"healthz", s.healthChecks(s.cfg.Ready)},
		{"readyz", s.healthChecks(s.cfg.Ready)},
	} {
		mux.HandleFunc("/"+h.name, s.serveHealth(h.name, h.checks))
		mux.HandleFunc("/"+h.name+"/", s.serveHealth(h.name, h.checks))
	}
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc(serviceaccount.OpenIDConfigurationPath, s.serveIssuerDocument(s.cfg.OpenIDConfiguration, mediaJSON))
	mux.HandleFunc(serviceaccount.JWKSPath, s.serveIssuerDocument(s.cfg.JWKS, "application/jwk-set+json"))
	mux.HandleFunc("/api", s.serveLegacyVersions)
	mux.HandleFunc("/apis", s.serveGroupList)
	mux.HandleFunc(NodeCredentialPath, s.serveNodeCredential)
	mux.HandleFunc(NodeServingCertPath, s.serveNodeServingCert)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	if s.cfg.OpenAPI != nil {
		mux.Handle("/openapi/", s.cfg.OpenAPI)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			s.writeJSON(w, http.StatusOK, map[string][]string{"paths": s.rootPaths()})
			return
		}
		s.writeError(w, r, notFoundPath(r.URL.Path))
	})
	return s.withFilters(mux)
}

func (s *Server) rootPaths() []string {
	paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3"}
	for g, versions := range s.groups {
		if g == "" {
			continue
		}
		paths = append(paths, "/apis/"+g)
		for _, v := range versions {
			paths = append(paths, "/apis/"+g+"/"+v)
		}
	}
	sort.Strings(paths)
	return paths
}

// healthCheck is one named check of /livez, /readyz or /healthz.
type healthCheck struct {
	name  string
	check func() error
}

// healthChecks are ping and, when storage is given, etcd.
func (s *Server) healthChecks(storage func() error) []healthCheck {
	checks := []healthCheck{{name: "ping", check: func() error { return nil }}}
	if storage != nil {
		checks = append(checks, healthCheck{name: "etcd", check: storage})
	}
	return checks
}

// serveHealth answers as kube-apiserver's healthz handlers do: "ok" when every check
// passes, one "[+]name ok" / "[-]name failed" line a check with ?verbose or on failure,
// and /<endpoint>/<check> for a single check (404 for a check that does not exist);
// ?exclude=<check> skips a check. A failure is a 503 (kube-apiserver says 500).
func (s *Server) serveHealth(endpoint string, checks []healthCheck) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if one := strings.TrimPrefix(r.URL.Path, "/"+endpoint+"/"); one != r.URL.Path {
			for _, c := range checks {
				if c.name == one {
					if err := c.check(); err != nil {
						s.log.Warn("health check failed", "endpoint", endpoint, "check", c.name, "err", err)
						http.Error(w, "internal server error: reason withheld", http.StatusServiceUnavailable)
						return
					}
					_, _ = w.Write([]byte("ok"))
					return
				}
			}
			http.NotFound(w, r)
			return
		}
		excluded := r.URL.Query()["exclude"]
		var out strings.Builder
		failed := false
		for _, c := range checks {
			if contains(excluded, c.name) {
				fmt.Fprintf(&out, "[+]%s excluded: ok\n", c.name)
				continue
			}
			if err := c.check(); err != nil {
				// The endpoints answer without authentication: the reason goes to the log.
				s.log.Warn("health check failed", "endpoint", endpoint, "check", c.name, "err", err)
				failed = true
				fmt.Fprintf(&out, "[-]%s failed: reason withheld\n", c.name)
				continue
			}
			fmt.Fprintf(&out, "[+]%s ok\n", c.name)
		}
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "%s%s check failed\n", out.String(), endpoint)
			return
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			_, _ = fmt.Fprintf(w, "%s%s check passed\n", out.String(), endpoint)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, s.cfg.Version)
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func (s *Server) noGroup() schema.GroupResource { return schema.GroupResource{} }

// storeFor finds the store serving a parsed path.
func (s *Server) storeFor(info requestInfo) *registry.Store {
	return s.stores[schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource}]
}

// userAgentManager derives the default field manager from the User-Agent, as Kubernetes.
func userAgentManager(r *http.Request) string {
	ua := r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

var _ = metav1.Now
