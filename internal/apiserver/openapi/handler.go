package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
)

const (
	mimeJSON      = "application/json"
	mimeV2Proto   = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtoAt = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3Proto   = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3ProtoAt = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

// ServeHTTP serves /openapi/v2, the /openapi/v3 index and
// /openapi/v3/<prefix> documents, the way kube-apiserver does: JSON or
// protobuf by Accept, a quoted SHA-512 ETag with If-None-Match, immutable
// caching when the index's ?hash= matches and a redirect when it is stale,
// gzip when the client accepts it.
func (s *Spec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	st, err := s.get()
	if err != nil {
		http.Error(w, "generating OpenAPI: "+err.Error(), http.StatusInternalServerError)
		return
	}
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case p == "/openapi/v2":
		serveDocument(w, r, st.v2, map[string]string{mimeJSON: mimeJSON, mimeV2Proto: mimeV2Proto, mimeV2ProtoAt: mimeV2Proto}, "")
	case p == "/openapi/v3":
		serveDocument(w, r, st.discovery, map[string]string{mimeJSON: mimeJSON}, "")
	case strings.HasPrefix(p, "/openapi/v3/"):
		gv := strings.TrimPrefix(p, "/openapi/v3/")
		doc, ok := st.v3[gv]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serveDocument(w, r, doc, map[string]string{mimeJSON: mimeJSON, mimeV3Proto: mimeV3Proto, mimeV3ProtoAt: mimeV3Proto}, gv)
	default:
		http.NotFound(w, r)
	}
}

// serveDocument negotiates among offers (accepted type -> returned type).
// gv is set for group-version documents, which take the ?hash= parameter.
func serveDocument(w http.ResponseWriter, r *http.Request, doc *document, offers map[string]string, gv string) {
	w.Header().Add("Vary", "Accept")
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, offer := range []string{mimeJSON, mimeV2Proto, mimeV2ProtoAt, mimeV3Proto, mimeV3ProtoAt} {
			returned, ok := offers[offer]
			if !ok || !clauseMatches(clause, offer) {
				continue
			}
			rep := doc.json
			if returned != mimeJSON {
				rep = doc.proto
			}
			body, err := rep.get()
			if err != nil {
				http.Error(w, "serializing OpenAPI: "+err.Error(), http.StatusInternalServerError)
				return
			}
			etag := doc.etag()
			if gv != "" {
				if hash := r.URL.Query().Get("hash"); hash != "" && hash != etag {
					http.Redirect(w, r, serverRelativeURL(gv, etag), http.StatusMovedPermanently)
					return
				} else if hash != "" {
					w.Header().Set("Cache-Control", "public, immutable")
					w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
				}
			}
			if w.Header().Get("Cache-Control") == "" {
				w.Header().Set("Cache-Control", "no-cache, private")
			}
			w.Header().Set("Content-Type", returned)
			w.Header().Set("Etag", strconv.Quote(etag))
			if etagMatches(r.Header.Get("If-None-Match"), etag) {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Add("Vary", "Accept-Encoding")
			if acceptsGzip(r) {
				body = rep.gzipped()
				w.Header().Set("Content-Encoding", "gzip")
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				_, _ = w.Write(body)
			}
			return
		}
	}
	http.Error(w, "no acceptable OpenAPI representation", http.StatusNotAcceptable)
}

func clauseMatches(c goautoneg.Accept, offer string) bool {
	typ, sub, _ := strings.Cut(offer, "/")
	return (c.Type == typ || c.Type == "*") && (c.SubType == sub || c.SubType == "*")
}

func etagMatches(ifNoneMatch, etag string) bool {
	for _, candidate := range strings.Split(ifNoneMatch, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == strconv.Quote(etag) {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, enc := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(enc), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func serverRelativeURL(gv, etag string) string {
	u := url.URL{Path: "/openapi/v3/" + gv, RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

// document is one served OpenAPI document, serialized on first request.
type document struct {
	json, proto *representation
}

func newDocument(build func() (any, error), toProto func([]byte) ([]byte, error)) *document {
	d := &document{}
	d.json = &representation{make: func() ([]byte, error) {
		v, err := build()
		if err != nil {
			return nil, err
		}
		// Calling the spec types' marshaler directly skips encoding/json's
		// second pass over its output (a third of the time for these sizes).
		if m, ok := v.(json.Marshaler); ok {
			return m.MarshalJSON()
		}
		return json.Marshal(v)
	}}
	d.proto = &representation{make: func() ([]byte, error) {
		j, err := d.json.get()
		if err != nil {
			return nil, err
		}
		if toProto == nil {
			return nil, fmt.Errorf("no protobuf form")
		}
		return toProto(j)
	}}
	return d
}

// etag is upstream's: the hex SHA-512 of the JSON form, shared by the
// protobuf form (responses vary by Accept).
func (d *document) etag() string {
	return d.json.hash()
}

type representation struct {
	make func() ([]byte, error)

	once sync.Once
	body []byte
	sum  string
	err  error

	gzOnce sync.Once
	gz     []byte
}

func (r *representation) get() ([]byte, error) {
	r.once.Do(func() {
		r.body, r.err = r.make()
		if r.err == nil {
			r.sum = fmt.Sprintf("%X", sha512.Sum512(r.body))
		}
	})
	return r.body, r.err
}

func (r *representation) hash() string {
	_, _ = r.get()
	return r.sum
}

func (r *representation) gzipped() []byte {
	r.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(r.body)
		_ = zw.Close()
		r.gz = buf.Bytes()
	})
	return r.gz
}

// v3Index is the /openapi/v3 discovery document: every group version with
// the URL of its current content.
func v3Index(docs map[string]*document) (any, error) {
	type entry struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}
	paths := make(map[string]entry, len(docs))
	for gv, doc := range docs {
		if _, err := doc.json.get(); err != nil {
			return nil, fmt.Errorf("%s: %w", gv, err)
		}
		paths[gv] = entry{ServerRelativeURL: serverRelativeURL(gv, doc.etag())}
	}
	return map[string]any{"paths": paths}, nil
}

func v2Proto(j []byte) ([]byte, error) {
	doc, err := openapiv2.ParseDocument(j)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}

func v3Proto(j []byte) ([]byte, error) {
	doc, err := openapiv3.ParseDocument(j)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}
