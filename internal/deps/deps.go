package deps
import (
 _ "k8s.io/api/core/v1"
 _ "k8s.io/apimachinery/pkg/runtime"
 _ "k8s.io/apimachinery/pkg/util/managedfields"
 _ "k8s.io/client-go/kubernetes"
 _ "k8s.io/client-go/applyconfigurations"
 _ "k8s.io/kubectl/pkg/cmd"
 _ "k8s.io/component-base/cli"
 _ "go.etcd.io/etcd/server/v3/embed"
 _ "go.etcd.io/etcd/client/v3"
 _ "k8s.io/kube-openapi/pkg/spec3"
)
