package kubectl

import (
	"testing"

	"github.com/berth/berth/test/integration/framework"
)

// check is one group of kubectl behaviours; it gets a namespace of its own.
type check struct {
	name string
	run  func(t *testing.T, e *env)
}

// checks run in parallel against one cluster: each works in its own namespace, and the
// ones that touch cluster-scoped objects use names no other check uses.
var checks = []check{
	{"ApplyExamples", testApplyExamples},
	{"GetOutputFormats", testGetOutputFormats},
	{"GetSelectors", testGetSelectors},
	{"GetColumns", testGetColumns},
	{"Watch", testWatch},
	{"Describe", testDescribe},
	{"DescribeOtherKinds", testDescribeOtherKinds},
	{"Events", testEvents},
	{"LabelAnnotate", testLabelAnnotate},
	{"Patch", testPatch},
	{"ApplyServerSide", testApplyServerSide},
	{"DiffEdit", testDiffEdit},
	{"Scale", testScale},
	{"Delete", testDelete},
	{"CreateInvalid", testCreateInvalid},
	{"CreateSubcommands", testCreateSubcommands},
	{"Namespaces", testNamespaces},
	{"Discovery", testDiscovery},
	{"Explain", testExplain},
}

func TestKubectl(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	// Build (or find) kubectl before the parallel checks start their clocks.
	framework.KubectlPath(t)
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			ch.run(t, newEnv(t, c, "k-"+lowerDash(ch.name)))
		})
	}
}

// lowerDash turns a check name into a namespace name ("GetSelectors" → "get-selectors").
func lowerDash(name string) string {
	var out []byte
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'A' && ch <= 'Z' {
			if i > 0 {
				out = append(out, '-')
			}
			ch += 'a' - 'A'
		}
		out = append(out, ch)
	}
	return string(out)
}
