package main

import (
	"bytes"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPrintImages(t *testing.T) {
	list := []*runtimeapi.Image{
		{Id: "sha256:269aa04be8474aaaaaaaa", RepoTags: []string{"docker.io/library/app:0.3.3", "docker.io/library/app:0.3.2"}, Size: 3923170},
		{Id: "sha256:02c9d5a985523bbbb", RepoTags: []string{"localhost:5000/berth/pause:02bad75fd314"}, Size: 714000},
		{Id: "sha256:7c69e43559b3ecccc", RepoDigests: []string{"docker.io/library/busybox@sha256:dd"}, Size: 999},
	}
	var out bytes.Buffer
	if err := printImages(&out, list, false); err != nil {
		t.Fatal(err)
	}
	want := `REPOSITORY                   TAG            IMAGE ID        SIZE
docker.io/library/app        0.3.2          269aa04be8474   3.92MB
docker.io/library/app        0.3.3          269aa04be8474   3.92MB
docker.io/library/busybox    <none>         7c69e43559b3e   999B
localhost:5000/berth/pause   02bad75fd314   02c9d5a985523   714kB
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := printImages(&out, list[:1], true); err != nil {
		t.Fatal(err)
	}
	if out.String() != "269aa04be8474\n" {
		t.Errorf("-q printed %q", out.String())
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 999: "999B", 1000: "1kB", 1150830: "1.15MB", 4675072: "4.68MB", 12_300_000_000: "12.3GB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestImageCommandUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"image"}, &stdout, &stderr); code != 2 {
		t.Errorf("berth image: exit %d", code)
	}
	if code := run([]string{"image", "import"}, &stdout, &stderr); code != 2 {
		t.Errorf("berth image import with no file: exit %d", code)
	}
	if code := run([]string{"image", "frobnicate"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
