package openapi

import (
	"encoding/json"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func TestNewIsCheapAndBuildIsMeasured(t *testing.T) {
	scheme := newScheme(t)
	types := scheme.AllKnownTypes()

	start := time.Now()
	s, err := New(servedResources(), types)
	if err != nil {
		t.Fatal(err)
	}
	newTook := time.Since(start)

	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	start = time.Now()
	if err := s.Warm(); err != nil {
		t.Fatal(err)
	}
	warmTook := time.Since(start)
	st, _ := s.get()
	start = time.Now()
	total := 0
	for _, doc := range st.v3 {
		body, err := doc.json.get()
		if err != nil {
			t.Fatal(err)
		}
		total += len(body)
	}
	v3Took := time.Since(start)
	start = time.Now()
	v2, err := st.v2.json.get()
	if err != nil {
		t.Fatal(err)
	}
	v2Took := time.Since(start)
	start = time.Now()
	if _, err := s.TypeConverter(); err != nil {
		t.Fatal(err)
	}
	tcTook := time.Since(start)
	goruntime.GC()
	goruntime.ReadMemStats(&after)

	t.Logf("New %v; Warm (definitions+paths) %v for %d definitions; v3 JSON for %d group versions %v (%d KiB); v2 JSON %v (%d KiB); TypeConverter %v; heap retained %+d KiB, allocated %d MiB",
		newTook, warmTook, len(st.defs), len(st.v3), v3Took, total>>10, v2Took, len(v2)>>10, tcTook,
		(int64(after.HeapAlloc)-int64(before.HeapAlloc))>>10, (after.TotalAlloc-before.TotalAlloc)>>20)
	if newTook > 50*time.Millisecond {
		t.Errorf("New took %v; it must stay trivial for server start", newTook)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	types := newScheme(t).AllKnownTypes()
	for name, r := range map[string]Resource{
		"unknown kind":        {Version: "v1", Resource: "widgets", Kind: "Widget", Verbs: allVerbs},
		"unknown subresource": {Version: "v1", Resource: "pods", Kind: "Pod", Verbs: allVerbs, Subresources: []string{"teleport"}},
		"missing kind":        {Version: "v1", Resource: "pods"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New([]Resource{r}, types); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	t.Run("subresource kind missing", func(t *testing.T) {
		only := map[schema.GroupVersionKind]reflect.Type{}
		for gvk, typ := range types {
			if gvk.Group == "apps" {
				only[gvk] = typ
			}
		}
		r := Resource{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Verbs: allVerbs, Subresources: []string{"scale"}}
		if _, err := New([]Resource{r}, only); err == nil || !strings.Contains(err.Error(), "Scale") {
			t.Fatalf("want an error naming Scale, got %v", err)
		}
	})
}

func definitions(t *testing.T) spec.Definitions {
	t.Helper()
	s, _ := newTestSpec(t)
	st, err := s.get()
	if err != nil {
		t.Fatal(err)
	}
	return st.defs
}

func TestDefinitionsFollowUpstream(t *testing.T) {
	defs := definitions(t)
	prop := func(def, field string) spec.Schema {
		t.Helper()
		d, ok := defs[def]
		if !ok {
			t.Fatalf("no definition %s", def)
		}
		p, ok := d.Properties[field]
		if !ok {
			t.Fatalf("%s has no property %s", def, field)
		}
		return p
	}
	ext := func(s spec.Schema, key string) string {
		v, ok := s.Extensions[key]
		if !ok {
			return ""
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	const core = "io.k8s.api.core.v1."
	const meta = "io.k8s.apimachinery.pkg.apis.meta.v1."

	cases := []struct {
		name      string
		got, want string
	}{
		{"containers list type", ext(prop(core+"PodSpec", "containers"), extListType), `"map"`},
		{"containers keys", ext(prop(core+"PodSpec", "containers"), extListMapKeys), `["name"]`},
		{"containers patch strategy", ext(prop(core+"PodSpec", "containers"), extPatchStrategy), `"merge"`},
		{"containers merge key", ext(prop(core+"PodSpec", "containers"), extPatchMergeKey), `"name"`},
		{"container ports keys", ext(prop(core+"Container", "ports"), extListMapKeys), `["containerPort","protocol"]`},
		{"service ports keys", ext(prop(core+"ServiceSpec", "ports"), extListMapKeys), `["port","protocol"]`},
		{"env keys", ext(prop(core+"Container", "env"), extListMapKeys), `["name"]`},
		{"volumes keys", ext(prop(core+"PodSpec", "volumes"), extListMapKeys), `["name"]`},
		{"args atomic", ext(prop(core+"Container", "args"), extListType), `"atomic"`},
		{"finalizers set", ext(prop(meta+"ObjectMeta", "finalizers"), extListType), `"set"`},
		{"ownerReferences keys", ext(prop(meta+"ObjectMeta", "ownerReferences"), extListMapKeys), `["uid"]`},
		{"nodeSelector atomic map", ext(prop(core+"PodSpec", "nodeSelector"), extMapType), `"atomic"`},
		{"LabelSelector atomic struct", ext(defs[meta+"LabelSelector"], extMapType), `"atomic"`},
		{"protocol default", mustJSON(prop(core+"ContainerPort", "protocol").Default), `"TCP"`},
		{"pod spec default", mustJSON(prop(core+"Pod", "spec").Default), `{}`},
		{"pod spec ref", refOf(prop(core+"Pod", "spec")), "#/definitions/" + core + "PodSpec"},
		{"Pod kind", ext(defs[core+"Pod"], extGVK), `[{"group":"","kind":"Pod","version":"v1"}]`},
		{"Deployment kind", ext(defs["io.k8s.api.apps.v1.Deployment"], extGVK), `[{"group":"apps","kind":"Deployment","version":"v1"}]`},
		{"Scale kind", ext(defs["io.k8s.api.autoscaling.v1.Scale"], extGVK), `[{"group":"autoscaling","kind":"Scale","version":"v1"}]`},
		{"Time", mustJSON(defs[meta+"Time"].Type) + defs[meta+"Time"].Format, `"string"date-time`},
		{"IntOrString", mustJSON(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].Type) + defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].Format, `"string"int-or-string`},
		{"Quantity", mustJSON(defs["io.k8s.apimachinery.pkg.api.resource.Quantity"].Type), `"string"`},
		{"ports type", mustJSON(prop(core+"ContainerPort", "containerPort").Type) + prop(core+"ContainerPort", "containerPort").Format, `"integer"int32`},
		{"secret data", mustJSON(prop(core+"Secret", "data").AdditionalProperties.Schema.Format), `"byte"`},
		{"resources map", refOf(*prop(core+"ResourceRequirements", "limits").AdditionalProperties.Schema), "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
		{"inlined TypeMeta", mustJSON(prop(core+"Pod", "apiVersion").Type), `"string"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("got %s, want %s", c.got, c.want)
			}
		})
	}

	t.Run("required", func(t *testing.T) {
		for def, want := range map[string][]string{
			core + "PodSpec":                    {"containers"},
			core + "Container":                  {"name"},
			core + "ContainerPort":              {"containerPort"},
			"io.k8s.api.apps.v1.DeploymentSpec": {"selector", "template"},
			core + "PodList":                    {"items"},
		} {
			if got := defs[def].Required; !slices.Equal(got, want) {
				t.Errorf("%s required = %v, want %v", def, got, want)
			}
		}
	})
	t.Run("descriptions", func(t *testing.T) {
		if d := defs[core+"Pod"].Description; !strings.HasPrefix(d, "Pod is a collection of containers") {
			t.Errorf("Pod description %q", d)
		}
		if d := prop(core+"PodSpec", "containers").Description; !strings.Contains(d, "List of containers belonging to the pod") {
			t.Errorf("containers description %q", d)
		}
		if d := prop(core+"Pod", "apiVersion").Description; !strings.HasPrefix(d, "APIVersion defines") {
			t.Errorf("apiVersion description from TypeMeta: %q", d)
		}
	})
	t.Run("every reference resolves", func(t *testing.T) {
		for name, def := range defs {
			collectRefs(&def, func(ref string) {
				if _, ok := defs[ref]; !ok {
					t.Errorf("%s refers to missing %s", name, ref)
				}
			})
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

func refOf(s spec.Schema) string { return s.Ref.String() }
