package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
)

// ScopeName is the instrumentation scope of the OTLP profiles.
const ScopeName = "github.com/bpfprof/bpfprof/agent"

// MarshalOTLP encodes p as an OTLP profiles export request (protobuf), the
// body of a POST to OTLPPath.
func MarshalOTLP(p *Payload, res Resource) ([]byte, error) {
	pd, err := ToOTLP(p, res)
	if err != nil {
		return nil, err
	}
	return pprofileotlp.NewExportRequestFromProfiles(pd).MarshalProto()
}

// ToOTLP converts the pprof profile of p into OTLP profiles data: one OTLP
// profile per pprof sample type (OTLP profiles carry one each), sharing the
// dictionary, under a resource describing res. Sample labels become
// attributes; numeric labels integer attributes.
func ToOTLP(p *Payload, res Resource) (pprofile.Profiles, error) {
	src := p.Profile
	pd := pprofile.NewProfiles()
	c := newOTLPConv(pd.Dictionary())

	rp := pd.ResourceProfiles().AppendEmpty()
	attrs := rp.Resource().Attributes()
	attrs.PutStr("service.name", res.ServiceName)
	if res.Version != "" {
		attrs.PutStr("service.version", res.Version)
	}
	attrs.PutStr("host.name", res.HostName)
	attrs.PutStr("os.type", "linux")
	attrs.PutStr("os.version", res.KernelRelease)
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName(ScopeName)
	sp.Scope().SetVersion(res.Version)

	// Mappings, functions and locations keep pprof's ids: pprof id i is
	// OTLP index i, since index 0 of every table is the zero entry.
	mapIdx := make(map[uint64]int32, len(src.Mapping))
	for _, m := range src.Mapping {
		om := c.dict.MappingTable().AppendEmpty()
		om.SetMemoryStart(m.Start)
		om.SetMemoryLimit(m.Limit)
		om.SetFileOffset(m.Offset)
		om.SetFilenameStrindex(c.str(m.File))
		if m.BuildID != "" {
			om.AttributeIndices().Append(c.attr("process.executable.build_id.gnu", m.BuildID))
		}
		mapIdx[m.ID] = int32(c.dict.MappingTable().Len() - 1)
	}
	fnIdx := make(map[uint64]int32, len(src.Function))
	for _, f := range src.Function {
		of := c.dict.FunctionTable().AppendEmpty()
		of.SetNameStrindex(c.str(f.Name))
		of.SetSystemNameStrindex(c.str(f.SystemName))
		of.SetFilenameStrindex(c.str(f.Filename))
		of.SetStartLine(f.StartLine)
		fnIdx[f.ID] = int32(c.dict.FunctionTable().Len() - 1)
	}
	locIdx := make(map[uint64]int32, len(src.Location))
	for _, l := range src.Location {
		ol := c.dict.LocationTable().AppendEmpty()
		ol.SetAddress(l.Address)
		if l.Mapping != nil {
			ol.SetMappingIndex(mapIdx[l.Mapping.ID])
		}
		for _, ln := range l.Line {
			oln := ol.Lines().AppendEmpty()
			if ln.Function != nil {
				oln.SetFunctionIndex(fnIdx[ln.Function.ID])
			}
			oln.SetLine(ln.Line)
			oln.SetColumn(ln.Column)
		}
		locIdx[l.ID] = int32(c.dict.LocationTable().Len() - 1)
	}

	for ti, st := range src.SampleType {
		op := sp.Profiles().AppendEmpty()
		op.SampleType().SetTypeStrindex(c.str(st.Type))
		op.SampleType().SetUnitStrindex(c.str(st.Unit))
		if src.PeriodType != nil {
			op.PeriodType().SetTypeStrindex(c.str(src.PeriodType.Type))
			op.PeriodType().SetUnitStrindex(c.str(src.PeriodType.Unit))
		}
		op.SetPeriod(src.Period)
		op.SetTime(pcommon.NewTimestampFromTime(p.Start))
		op.SetDurationNano(uint64(p.End.Sub(p.Start)))
		var id pprofile.ProfileID
		copy(id[:], fmt.Sprintf("%016x", p.Start.UnixNano()))
		id[15] = byte(ti)
		op.SetProfileID(id)
		for _, s := range src.Sample {
			if ti >= len(s.Value) || s.Value[ti] == 0 {
				continue
			}
			os := op.Samples().AppendEmpty()
			os.Values().Append(s.Value[ti])
			locs := make([]int32, len(s.Location))
			for i, l := range s.Location {
				locs[i] = locIdx[l.ID]
			}
			os.SetStackIndex(c.stack(locs))
			for _, k := range sortedKeys(s.Label) {
				for _, v := range s.Label[k] {
					os.AttributeIndices().Append(c.attr(k, v))
				}
			}
			for _, k := range sortedKeys(s.NumLabel) {
				for _, v := range s.NumLabel[k] {
					os.AttributeIndices().Append(c.attr(k, v))
				}
			}
		}
	}
	return pd, nil
}

// otlpConv fills an OTLP dictionary, deduplicating through maps (the
// package's Set* helpers scan the whole table each time).
type otlpConv struct {
	dict    pprofile.ProfilesDictionary
	strs    map[string]int32
	stacks  map[string]int32
	attrIdx map[string]int32
}

func newOTLPConv(dict pprofile.ProfilesDictionary) *otlpConv {
	c := &otlpConv{
		dict:    dict,
		strs:    map[string]int32{},
		stacks:  map[string]int32{},
		attrIdx: map[string]int32{},
	}
	// Index 0 of every table is its zero value, as the format asks.
	c.str("")
	dict.MappingTable().AppendEmpty()
	dict.FunctionTable().AppendEmpty()
	dict.LocationTable().AppendEmpty()
	dict.LinkTable().AppendEmpty()
	dict.AttributeTable().AppendEmpty()
	dict.StackTable().AppendEmpty()
	c.stacks[""] = 0
	return c
}

func (c *otlpConv) str(s string) int32 {
	if i, ok := c.strs[s]; ok {
		return i
	}
	c.dict.StringTable().Append(s)
	i := int32(c.dict.StringTable().Len() - 1)
	c.strs[s] = i
	return i
}

func (c *otlpConv) stack(locs []int32) int32 {
	var b strings.Builder
	for _, l := range locs {
		b.WriteString(strconv.FormatInt(int64(l), 36))
		b.WriteByte(',')
	}
	key := b.String()
	if i, ok := c.stacks[key]; ok {
		return i
	}
	st := c.dict.StackTable().AppendEmpty()
	st.LocationIndices().FromRaw(locs)
	i := int32(c.dict.StackTable().Len() - 1)
	c.stacks[key] = i
	return i
}

// attr returns the index of the attribute k=v, a string or an int64.
func (c *otlpConv) attr(k string, v any) int32 {
	key := fmt.Sprintf("%s\x00%T\x00%v", k, v, v)
	if i, ok := c.attrIdx[key]; ok {
		return i
	}
	a := c.dict.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(c.str(k))
	switch v := v.(type) {
	case string:
		a.Value().SetStr(v)
	case int64:
		a.Value().SetInt(v)
	}
	i := int32(c.dict.AttributeTable().Len() - 1)
	c.attrIdx[key] = i
	return i
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
