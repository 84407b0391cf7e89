package sampler

//go:generate go tool stringer -type KSymbolType -trimprefix KSymbol -output ksymboltype_string.go
//go:generate go tool stringer -type BPFEventType -trimprefix BPFEvent -output bpfeventtype_string.go
