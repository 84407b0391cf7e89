package bpfprog

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		args []string
		want Selector
		rest []string
		err  string
	}{
		{args: nil, want: Selector{}},
		{args: []string{"id", "42"}, want: Selector{Kind: SelectID, ID: 42}, rest: []string{}},
		{args: []string{"42", "more"}, want: Selector{Kind: SelectID, ID: 42}, rest: []string{"more"}},
		{args: []string{"name", "bpfprof_hot_loop_socket"}, want: Selector{Kind: SelectName, Name: "bpfprof_hot_loop_socket"}, rest: []string{}},
		{args: []string{"tag", "0BD0168676C7C779"}, want: Selector{Kind: SelectTag, Tag: "0bd0168676c7c779"}, rest: []string{}},
		{args: []string{"tag", "0b:d0:16:86:76:c7:c7:79"}, want: Selector{Kind: SelectTag, Tag: "0bd0168676c7c779"}, rest: []string{}},
		{args: []string{"pinned", "/sys/fs/bpf/p", "x"}, want: Selector{Kind: SelectPinned, Path: "/sys/fs/bpf/p"}, rest: []string{"x"}},
		// Not a selector: left for the caller.
		{args: []string{"foo"}, want: Selector{}, rest: []string{"foo"}},
		{args: []string{"0"}, want: Selector{}, rest: []string{"0"}},
		{args: []string{"id"}, err: `"id" needs a value`},
		{args: []string{"name", ""}, err: `"name" needs a value`},
		{args: []string{"id", "x"}, err: `bad program id "x"`},
		{args: []string{"id", "-3"}, err: `bad program id "-3"`},
		{args: []string{"id", "4294967296"}, err: `bad program id`},
		{args: []string{"tag", "abc"}, err: `bad program tag "abc"`},
		{args: []string{"tag", "zz00000000000000"}, err: `bad program tag`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			sel, rest, err := ParseSelector(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sel != tt.want {
				t.Errorf("selector = %+v, want %+v", sel, tt.want)
			}
			if len(rest) != len(tt.rest) || (len(rest) > 0 && !reflect.DeepEqual(rest, tt.rest)) {
				t.Errorf("rest = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestSelectorStringRoundTrip(t *testing.T) {
	for _, sel := range []Selector{
		{Kind: SelectID, ID: 7},
		{Kind: SelectName, Name: "x"},
		{Kind: SelectTag, Tag: "0bd0168676c7c779"},
		{Kind: SelectPinned, Path: "/sys/fs/bpf/x"},
	} {
		got, rest, err := ParseSelector(strings.Fields(sel.String()))
		if err != nil || len(rest) != 0 || got != sel {
			t.Errorf("ParseSelector(%q) = %+v, %q, %v", sel.String(), got, rest, err)
		}
	}
}

func TestSelect(t *testing.T) {
	progs := []Program{
		{ID: 1, Name: "bpfprof_hot_loo", FullName: "bpfprof_hot_loop_socket", Tag: "8015c3c422f0136e"},
		{ID: 2, Name: "bpfprof_maps", FullName: "bpfprof_maps", Tag: "6383332fa866c20c"},
		{ID: 3, Name: "bpfprof_maps", FullName: "bpfprof_maps", Tag: "6383332fa866c20c"},
		{ID: 4},
	}
	ids := func(ps []Program) []ID {
		var out []ID
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	tests := []struct {
		sel  Selector
		want []ID
	}{
		{Selector{}, []ID{1, 2, 3, 4}},
		{Selector{Kind: SelectID, ID: 3}, []ID{3}},
		// The kernel's truncated name and the full BTF name both match.
		{Selector{Kind: SelectName, Name: "bpfprof_hot_loo"}, []ID{1}},
		{Selector{Kind: SelectName, Name: "bpfprof_hot_loop_socket"}, []ID{1}},
		{Selector{Kind: SelectName, Name: "bpfprof_maps"}, []ID{2, 3}},
		{Selector{Kind: SelectTag, Tag: "6383332fa866c20c"}, []ID{2, 3}},
	}
	for _, tt := range tests {
		got, err := Select(progs, tt.sel)
		if err != nil {
			t.Errorf("Select(%v): %v", tt.sel, err)
			continue
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("Select(%v) = %v, want %v", tt.sel, ids(got), tt.want)
		}
	}

	_, err := Select(progs, Selector{Kind: SelectName, Name: "foo"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Select(name foo) = %v, want ErrNotFound", err)
	}
	if want := "no BPF program with name foo; see 'bpfprof list'"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	// An empty listing with no selector is not an error.
	if got, err := Select(nil, Selector{}); err != nil || len(got) != 0 {
		t.Errorf("Select(nil, all) = %v, %v", got, err)
	}
}
