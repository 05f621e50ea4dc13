package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Media types the server speaks.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// outputKind says which shape of response the client asked for.
type outputKind int

const (
	outputObject outputKind = iota
	outputTable
	outputPartial // PartialObjectMetadata(List)
)

// output is the negotiated response format.
type output struct {
	MediaType string
	Kind      outputKind
	// Info is the serializer for MediaType.
	Info runtime.SerializerInfo
	// Pretty indents objects (not watch events) where the format allows (isPrettyPrint).
	Pretty bool
}

type acceptEntry struct {
	mediaType string
	params    map[string]string
}

func parseAccept(header string) []acceptEntry {
	var out []acceptEntry
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		out = append(out, acceptEntry{mediaType: mt, params: params})
	}
	return out
}

// negotiateOutput picks the response format from the Accept header. The first entry the
// server can serve wins; no Accept header means JSON objects.
func (s *Server) negotiateOutput(r *http.Request) (output, error) {
	out, err := s.negotiateFormat(r)
	out.Pretty = err == nil && isPrettyPrint(r)
	return out, err
}

// isPrettyPrint is kube-apiserver's rule: ?pretty=<bool> when given, else indent for
// curl, wget and browsers, or an Accept header that asks for pretty=1.
func isPrettyPrint(r *http.Request) bool {
	if strings.Contains(r.URL.RawQuery, "pretty") {
		if pp := r.URL.Query().Get("pretty"); pp != "" {
			pretty, _ := strconv.ParseBool(pp)
			return pretty
		}
	}
	ua := r.UserAgent()
	if strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget") || strings.HasPrefix(ua, "Mozilla/5.0") {
		return true
	}
	for _, accept := range r.Header["Accept"] {
		if strings.Contains(accept, "pretty=1") {
			return true
		}
	}
	return false
}

func (s *Server) negotiateFormat(r *http.Request) (output, error) {
	header := r.Header.Get("Accept")
	entries := parseAccept(header)
	if len(entries) == 0 {
		return s.outputFor(mediaJSON, outputObject), nil
	}
	for _, e := range entries {
		mt := e.mediaType
		switch mt {
		case "*/*", "application/*":
			mt = mediaJSON
		case mediaJSON, mediaYAML, mediaProtobuf:
		default:
			continue
		}
		kind := outputObject
		if as := e.params["as"]; as != "" {
			if e.params["g"] != "meta.k8s.io" || (e.params["v"] != "v1" && e.params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table":
				if mt == mediaProtobuf {
					continue // Tables have no protobuf form.
				}
				kind = outputTable
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				kind = outputPartial
			default:
				continue
			}
		}
		return s.outputFor(mt, kind), nil
	}
	return output{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", s.noGroup(), "", fmt.Sprintf("only the following media types are accepted: %s", strings.Join([]string{mediaJSON, mediaYAML, mediaProtobuf}, ", ")), 0, false)
}

func (s *Server) outputFor(mt string, kind outputKind) output {
	for _, info := range s.codecs.Factory.SupportedMediaTypes() {
		if info.MediaType == mt {
			return output{MediaType: mt, Kind: kind, Info: info}
		}
	}
	panic("unsupported media type " + mt) // only called with the three served types
}

// decoderFor returns the serializer for a request body's Content-Type.
func (s *Server) decoderFor(r *http.Request, strict bool) (runtime.Serializer, string, error) {
	ct := r.Header.Get("Content-Type")
	mt := mediaJSON
	if ct != "" {
		parsed, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, "", unsupportedMediaType(ct)
		}
		mt = parsed
	}
	if mt == "application/x-yaml" || mt == "text/yaml" {
		mt = mediaYAML
	}
	factory := s.codecs.Factory
	if strict {
		factory = s.codecs.Strict
	}
	for _, info := range factory.SupportedMediaTypes() {
		if info.MediaType == mt {
			if strict && info.StrictSerializer != nil {
				return info.StrictSerializer, mt, nil
			}
			return info.Serializer, mt, nil
		}
	}
	return nil, "", unsupportedMediaType(ct)
}

func unsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s", mediaJSON, mediaYAML, mediaProtobuf),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: ct}}},
	}}
}
