package perfdata

import "strconv"

// The perf.data layout as perf writes it (tools/perf/util/header.h,
// tools/lib/perf/include/perf/event.h). These are perf's file format, not
// the kernel's ABI, which package perfabi holds.

// Magic numbers: the first 8 bytes of a file, read in the machine's byte
// order. magicSwapped is a file written on a machine of the other byte
// order.
const (
	magic        = 0x32454c4946524550 // "PERFILE2"
	magicSwapped = 0x50455246494c4532
)

// Sizes of the file's fixed structures.
const (
	// fileHeaderSize is struct perf_file_header: magic, size, attr_size,
	// the attrs, data and event_types sections, and the 256-bit feature
	// bitmap.
	fileHeaderSize = 8 + 8 + 8 + 3*16 + 32
	// pipeHeaderSize is struct perf_pipe_file_header: magic and size.
	pipeHeaderSize = 16
	// attrSizeVer0 is the first perf_event_attr's size, assumed when a
	// file's attr says 0.
	attrSizeVer0 = 64
	// featureBits is the size of the feature bitmap.
	featureBits = 256
)

// Record types perf itself writes into perf.data (PERF_RECORD_USER_TYPE_START
// and up); the kernel's own are below 64.
const (
	recHeaderAttr        = 64
	recHeaderEventType   = 65
	recHeaderTracingData = 66
	recHeaderBuildID     = 67
	recFinishedRound     = 68
	recIDIndex           = 69
	recAuxtraceInfo      = 70
	recAuxtrace          = 71
	recAuxtraceError     = 72
	recThreadMap         = 73
	recCPUMap            = 74
	recStatConfig        = 75
	recStat              = 76
	recStatRound         = 77
	recEventUpdate       = 78
	recTimeConv          = 79
	recHeaderFeature     = 80
	recCompressed        = 81
	recFinishedInit      = 82
	recUserTypeStart     = 64
)

// Feature is a bit of the file header's feature bitmap: which optional
// section follows the data (enum perf_header_feature).
type Feature int

// Features, as perf numbers them.
const (
	FeatTracingData  Feature = 1
	FeatBuildID      Feature = 2
	FeatHostname     Feature = 3
	FeatOSRelease    Feature = 4
	FeatVersion      Feature = 5
	FeatArch         Feature = 6
	FeatNrCPUs       Feature = 7
	FeatCPUDesc      Feature = 8
	FeatCPUID        Feature = 9
	FeatTotalMem     Feature = 10
	FeatCmdline      Feature = 11
	FeatEventDesc    Feature = 12
	FeatCPUTopology  Feature = 13
	FeatNUMATopology Feature = 14
	FeatBranchStack  Feature = 15
	FeatPMUMappings  Feature = 16
	FeatGroupDesc    Feature = 17
	FeatAuxtrace     Feature = 18
	FeatStat         Feature = 19
	FeatCache        Feature = 20
	FeatSampleTime   Feature = 21
	FeatMemTopology  Feature = 22
	FeatClockID      Feature = 23
	FeatDirFormat    Feature = 24
	FeatBPFProgInfo  Feature = 25
	FeatBPFBTF       Feature = 26
	FeatCompressed   Feature = 27
	FeatCPUPMUCaps   Feature = 28
	FeatClockData    Feature = 29
	FeatHybridTopo   Feature = 30
	FeatPMUCaps      Feature = 31
	featLastKnown    Feature = 32
)

// Constants of the feature sections.
const (
	buildIDSizeFlag = 1 << 15 // PERF_RECORD_MISC_BUILD_ID_SIZE
	nameAlign       = 64      // strings are padded to this
	eventUpdateName = 2       // PERF_EVENT_UPDATE__NAME

	// enum perf_bpil_array_types: bits of struct perf_bpil's arrays.
	bpilArrayJitedInsns    = 0
	bpilArrayXlatedInsns   = 1
	bpilArrayMapIDs        = 2
	bpilArrayJitedKsyms    = 3
	bpilArrayJitedFuncLens = 4
	bpilArrayFuncInfo      = 5
	bpilArrayLineInfo      = 6
	bpilArrayJitedLineInfo = 7
	bpilArrayProgTags      = 8
	// bpilHeaderSize is struct perf_bpil before its bpf_prog_info:
	// info_len, data_len, arrays.
	bpilHeaderSize = 4 + 4 + 8

	btfHeaderMinSize = 24 // struct btf_header
	btfMagic         = 0xeb9f
)

var featureNames = [...]string{
	FeatTracingData: "tracing data", FeatBuildID: "build IDs", FeatHostname: "hostname",
	FeatOSRelease: "os release", FeatVersion: "perf version", FeatArch: "arch", FeatNrCPUs: "CPU count",
	FeatCPUDesc: "CPU description", FeatCPUID: "CPU id", FeatTotalMem: "total memory",
	FeatCmdline: "command line", FeatEventDesc: "event description", FeatCPUTopology: "CPU topology",
	FeatNUMATopology: "NUMA topology", FeatBranchStack: "branch stack", FeatPMUMappings: "PMU mappings",
	FeatGroupDesc: "group description", FeatAuxtrace: "auxtrace", FeatStat: "stat", FeatCache: "cache",
	FeatSampleTime: "sample time", FeatMemTopology: "memory topology", FeatClockID: "clock id",
	FeatDirFormat: "directory format", FeatBPFProgInfo: "BPF program info", FeatBPFBTF: "BPF BTF",
	FeatCompressed: "compression", FeatCPUPMUCaps: "CPU PMU capabilities", FeatClockData: "clock data",
	FeatHybridTopo: "hybrid topology", FeatPMUCaps: "PMU capabilities",
}

// String names the feature as perf report --header does, roughly.
func (f Feature) String() string {
	if f > 0 && int(f) < len(featureNames) {
		return featureNames[f]
	}
	return "feature " + strconv.Itoa(int(f))
}
