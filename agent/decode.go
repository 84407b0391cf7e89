package agent

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// LineCount is the value of one source line at the leaf of samples.
type LineCount struct {
	Function, File string
	Line           int64
	Value          int64
}

// LeafLines sums the values of the OTLP profiles of sample type index
// typeIdx (the order of the pprof's sample types) by the innermost line of
// each sample's leaf location, highest first: the "top" of a profile. keep,
// if set, picks samples by their attributes (strings and int64s).
func LeafLines(pd pprofile.Profiles, typeIdx int, keep func(attrs map[string]any) bool) []LineCount {
	dict := pd.Dictionary()
	strs, locs, fns, stacks, attrTab := dict.StringTable(), dict.LocationTable(), dict.FunctionTable(), dict.StackTable(), dict.AttributeTable()
	str := func(i int32) string {
		if i < 0 || int(i) >= strs.Len() {
			return ""
		}
		return strs.At(int(i))
	}
	sums := map[LineCount]int64{}
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			if typeIdx >= sp.Profiles().Len() {
				continue
			}
			prof := sp.Profiles().At(typeIdx)
			for _, s := range prof.Samples().All() {
				if keep != nil {
					attrs := map[string]any{}
					for _, ai := range s.AttributeIndices().All() {
						if ai < 0 || int(ai) >= attrTab.Len() {
							continue
						}
						a := attrTab.At(int(ai))
						switch v := a.Value(); v.Type() {
						case pcommon.ValueTypeInt:
							attrs[str(a.KeyStrindex())] = v.Int()
						default:
							attrs[str(a.KeyStrindex())] = v.AsString()
						}
					}
					if !keep(attrs) {
						continue
					}
				}
				si := s.StackIndex()
				if si <= 0 || int(si) >= stacks.Len() || stacks.At(int(si)).LocationIndices().Len() == 0 || s.Values().Len() == 0 {
					continue
				}
				li := stacks.At(int(si)).LocationIndices().At(0)
				if li < 0 || int(li) >= locs.Len() {
					continue
				}
				var k LineCount
				if lines := locs.At(int(li)).Lines(); lines.Len() > 0 {
					ln := lines.At(0)
					if fi := ln.FunctionIndex(); fi >= 0 && int(fi) < fns.Len() {
						k.Function, k.File = str(fns.At(int(fi)).NameStrindex()), str(fns.At(int(fi)).FilenameStrindex())
					}
					k.Line = ln.Line()
				}
				sums[k] += s.Values().At(0)
			}
		}
	}
	out := make([]LineCount, 0, len(sums))
	for k, v := range sums {
		k.Value = v
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b LineCount) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return out
}
