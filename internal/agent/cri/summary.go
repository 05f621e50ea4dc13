package cri

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Summary is what a relist needs of a sandbox or a container: its ID, its state
// (runtimeapi.PodSandboxState or runtimeapi.ContainerState) and one label's value.
type Summary struct {
	ID    string
	State int32
	Label string
}

// ListPodSandboxSummaries lists every sandbox like ListPodSandbox, but decodes only the
// ID, the state and the value of label of each. A relist runs every second, and the
// whole messages — metadata, labels and annotations maps of every sandbox — were most of
// the agent's garbage when idle.
func (c *Client) ListPodSandboxSummaries(ctx context.Context, label string) ([]Summary, error) {
	// PodSandbox: id = 1, state = 3, labels = 5.
	return c.listSummaries(ctx, "ListPodSandbox", &runtimeapi.ListPodSandboxRequest{}, 3, 5, label)
}

// ListContainerSummaries lists every container like ListContainers, decoding only the
// ID, the state and the value of label of each.
func (c *Client) ListContainerSummaries(ctx context.Context, label string) ([]Summary, error) {
	// Container: id = 1, state = 6, labels = 8.
	return c.listSummaries(ctx, "ListContainers", &runtimeapi.ListContainersRequest{}, 6, 8, label)
}

func (c *Client) listSummaries(ctx context.Context, method string, req proto.Message, stateField, labelsField protowire.Number, label string) ([]Summary, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	var reply rawReply
	if err := c.conn.Invoke(ctx, "/runtime.v1.RuntimeService/"+method, req, &reply, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return nil, wrap(err, method, "")
	}
	out, err := parseSummaries(reply.b, stateField, labelsField, label)
	if err != nil {
		return nil, fmt.Errorf("cri: %s: %w", method, err)
	}
	return out, nil
}

// parseSummaries reads a List*Response (its items in field 1) of b.
func parseSummaries(b []byte, stateField, labelsField protowire.Number, label string) ([]Summary, error) {
	var out []Summary
	for len(b) > 0 {
		num, typ, item, n := consumeField(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			continue
		}
		s, err := parseSummary(item, stateField, labelsField, label)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSummary(b []byte, stateField, labelsField protowire.Number, label string) (Summary, error) {
	var s Summary
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.ID, b = string(v), b[n:]
		case num == stateField && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.State, b = int32(v), b[n:]
		case num == labelsField && typ == protowire.BytesType:
			entry, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			b = b[n:]
			if v, ok, err := mapValue(entry, label); err != nil {
				return s, err
			} else if ok {
				s.Label = v
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return s, nil
}

// mapValue reads a map<string,string> entry (key = 1, value = 2) and returns its value
// when its key is key.
func mapValue(entry []byte, key string) (string, bool, error) {
	var k, v []byte
	for len(entry) > 0 {
		num, typ, f, n := consumeField(entry)
		if n < 0 {
			return "", false, protowire.ParseError(n)
		}
		entry = entry[n:]
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case 1:
			k = f
		case 2:
			v = f
		}
	}
	if string(k) != key {
		return "", false, nil
	}
	return string(v), true, nil
}

// consumeField reads one field; for a length-delimited one it returns its contents.
func consumeField(b []byte) (protowire.Number, protowire.Type, []byte, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, n
	}
	if typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return 0, 0, nil, m
		}
		return num, typ, v, n + m
	}
	m := protowire.ConsumeFieldValue(num, typ, b[n:])
	if m < 0 {
		return 0, 0, nil, m
	}
	return num, typ, nil, n + m
}

// rawReply keeps a reply's bytes for parseSummaries.
type rawReply struct{ b []byte }

// rawCodec marshals requests as protobuf and keeps replies' bytes undecoded.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cri: cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawReply)
	if !ok {
		return errors.New("cri: raw codec decodes only into rawReply")
	}
	r.b = data.Materialize()
	return nil
}

// Name is the content subtype: the runtime sees an ordinary protobuf call.
func (rawCodec) Name() string { return "proto" }
