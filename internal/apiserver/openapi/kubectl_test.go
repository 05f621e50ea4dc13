package openapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
)

// These tests drive the served documents through the code kubectl v1.37 runs.

func TestClientGoReadsEveryGroupVersion(t *testing.T) {
	s, _ := newTestSpec(t)
	_, dc, _ := serve(t, s)
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(gvs) != 7 {
		t.Fatalf("group versions %v, want the 7 served", gvs)
	}
	for _, gv := range gvs {
		t.Run(gv.String(), func(t *testing.T) {
			doc, err := root.GVSpec(gv)
			if err != nil {
				t.Fatal(err)
			}
			patches := 0
			for path, item := range doc.Paths.Paths {
				if item.Patch == nil {
					continue
				}
				patches++
				if _, ok := item.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
					t.Errorf("PATCH %s takes no strategic merge patch", path)
				}
				names := map[string]bool{}
				for _, p := range item.Patch.Parameters {
					names[p.Name] = p.In == "query"
				}
				for _, want := range []string{"fieldValidation", "dryRun", "fieldManager", "force"} {
					if !names[want] {
						t.Errorf("PATCH %s lacks query parameter %s", path, want)
					}
				}
			}
			if patches == 0 {
				t.Fatal("no PATCH operations")
			}
			for name, def := range doc.Components.Schemas {
				if def.Ref.String() != "" {
					t.Errorf("component %s is a bare $ref", name)
				}
			}
		})
	}
}

// kubectl apply asks this verifier before it sends anything.
func TestKubectlFieldValidationVerifier(t *testing.T) {
	s, _ := newTestSpec(t)
	_, dc, cfg := serve(t, s)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v3 := resource.NewQueryParamVerifierV3(dyn, dc.OpenAPIV3(), resource.QueryParamFieldValidation)
	v2 := resource.NewQueryParamVerifier(dyn, dc, resource.QueryParamFieldValidation)
	for _, r := range servedResources() {
		gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
		t.Run(gvk.String(), func(t *testing.T) {
			if err := v3.HasSupport(gvk); err != nil {
				t.Errorf("v3: %v", err)
			}
			if err := v2.HasSupport(gvk); err != nil {
				t.Errorf("v2: %v", err)
			}
		})
	}
}

func TestKubectlExplain(t *testing.T) {
	s, _ := newTestSpec(t)
	_, dc, _ := serve(t, s)
	cases := []struct {
		gvr   schema.GroupVersionResource
		path  []string
		wants []string
	}{
		{
			gvr:  schema.GroupVersionResource{Version: "v1", Resource: "pods"},
			path: []string{"spec", "containers"},
			wants: []string{
				"KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>",
				"List of containers belonging to the pod.", "FIELDS:",
				"image\t<string>", "name\t<string> -required-", "ports\t<[]ContainerPort>",
			},
		},
		{
			gvr:   schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			path:  []string{"spec", "strategy", "rollingUpdate", "maxSurge"},
			wants: []string{"GROUP:      apps", "KIND:       Deployment", "FIELD: maxSurge <IntOrString>", "The maximum number of pods"},
		},
		{
			gvr:   schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
			wants: []string{"KIND:       EndpointSlice", "endpoints\t<[]Endpoint> -required-"},
		},
	}
	for _, c := range cases {
		t.Run(c.gvr.Resource+"."+strings.Join(c.path, "."), func(t *testing.T) {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(c.path, &out, dc.OpenAPIV3(), c.gvr, false, 0, "plaintext"); err != nil {
				t.Fatal(err)
			}
			for _, want := range c.wants {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// kubectl explain --output=plaintext-openapiv2 and older code paths parse
// the protobuf v2 document into models.
func TestKubectlReadsV2Models(t *testing.T) {
	s, _ := newTestSpec(t)
	_, dc, _ := serve(t, s)
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	resources, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range servedResources() {
		gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
		if resources.LookupResource(gvk) == nil {
			t.Errorf("v2 models lack %v", gvk)
		}
	}
}

// kubectl apply (client-side) computes its patch from the v3 schema.
func TestStrategicMergePatchFromV3(t *testing.T) {
	s, _ := newTestSpec(t)
	_, dc, _ := serve(t, s)
	doc, err := openapi3.NewRoot(dc.OpenAPIV3()).GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	deployment := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if deployment == nil {
		t.Fatal("no Deployment schema")
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: deployment, SchemaList: doc.Components.Schemas}
	original := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:1"},{"name":"nginx","image":"nginx:1"}]}}}}`
	modified := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"},{"name":"nginx","image":"nginx:1"}]}}}}`
	current := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"app","image":"app:1","imagePullPolicy":"IfNotPresent"},{"name":"nginx","image":"nginx:1"}]}}}}`
	patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(current), meta, false)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"nginx"}],"containers":[{"image":"app:2","name":"app"}]}}}}`
	if mustJSON(got) != want {
		t.Fatalf("patch %s, want %s", mustJSON(got), want)
	}
}
