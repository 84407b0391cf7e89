package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/sampler"
)

// completeCommand is the hidden command the shell scripts call: "bpfprof
// __complete WORD... CURRENT" prints the candidates for CURRENT, one a
// line, or one of the directives below for the shell to complete itself.
const completeCommand = "__complete"

const (
	// directiveFiles asks the shell for file names.
	directiveFiles = ":files"
	// directiveCommands asks the shell for command names (record's
	// COMMAND), then their files.
	directiveCommands = ":commands"
)

const completionSynopsis = "bash|zsh|fish"

// runCompletion prints the completion script for a shell.
func runCompletion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("completion", completionSynopsis+`

Prints a script that completes bpfprof's commands, flags, and program ids,
names and tags (from the running system, when run as root). Load it with:

  bash:  source <(bpfprof completion bash)     # or into /etc/bash_completion.d/bpfprof
  zsh:   source <(bpfprof completion zsh)      # or as _bpfprof in a directory of $fpath
  fish:  bpfprof completion fish | source      # or into ~/.config/fish/completions/bpfprof.fish`, stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("name one shell: %s", completionSynopsis)
	}
	script, ok := completionScripts[fs.Arg(0)]
	if !ok {
		return usagef("no completion for shell %q: want %s", fs.Arg(0), completionSynopsis)
	}
	_, err := io.WriteString(stdout, script)
	return err
}

// complete prints the candidates for the last of words, the words before
// it being the command line after "bpfprof". It never fails: a completion
// that cannot be computed is an empty one.
func complete(words []string, stdout io.Writer) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	var out []string
	if len(prev) == 0 {
		if strings.HasPrefix(cur, "-") {
			out = []string{"--help", "--version"}
		} else {
			for _, c := range commands() {
				out = append(out, c.name)
			}
			out = append(out, "help")
		}
		printCandidates(stdout, cur, out)
		return
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == prev[0] {
			cmd = &c
		}
	}
	if prev[0] == "help" && len(prev) == 1 {
		for _, c := range commands() {
			out = append(out, c.name)
		}
		printCandidates(stdout, cur, out)
		return
	}
	if cmd == nil {
		return
	}
	if cmd.name == "completion" {
		if len(prev) == 1 {
			printCandidates(stdout, cur, []string{"bash", "fish", "zsh"})
		}
		return
	}
	help := commandHelp(cmd)
	flags := parseHelpFlags(help)

	// Where are we: after a flag that wants a value, after record's
	// command, after a selector keyword?
	var args []string
	dashed := false
	for i := 1; i < len(prev); i++ {
		w := prev[i]
		switch {
		case dashed || !strings.HasPrefix(w, "-") || w == "-":
			if cmd.name == "record" {
				// Everything after record's command is the
				// command's.
				fmt.Fprintln(stdout, directiveFiles)
				return
			}
			args = append(args, w)
			if selectorKeyword(w) && i+1 < len(prev) {
				args = append(args, prev[i+1])
				i++
			}
		case w == "--":
			dashed = true
		case flags.valueNext(w) != nil:
			if i+1 == len(prev) {
				completeValue(stdout, flags.valueNext(w), cur)
				return
			}
			i++ // its value
		}
	}
	if !dashed && strings.HasPrefix(cur, "-") {
		if long, value, ok := strings.Cut(cur, "="); ok {
			if f := flags.lookup(long); f != nil && f.value != "" {
				var vs bytes.Buffer
				completeValue(&vs, f, value)
				for line := range strings.Lines(vs.String()) {
					line = strings.TrimSuffix(line, "\n")
					if strings.HasPrefix(line, ":") {
						fmt.Fprintln(stdout, line)
						continue
					}
					fmt.Fprintln(stdout, long+"="+line)
				}
			}
			return
		}
		for _, f := range flags {
			out = append(out, "--"+f.long)
			if f.short != "" && !strings.HasPrefix(cur, "--") {
				out = append(out, "-"+f.short)
			}
		}
		out = append(out, "--help")
		printCandidates(stdout, cur, out)
		return
	}
	if cmd.name == "record" {
		fmt.Fprintln(stdout, directiveCommands)
		return
	}
	if !strings.Contains(help, "name NAME") {
		return // takes no program selector
	}
	completeSelector(stdout, args, cur)
}

// completeSelector completes a program selector: the keyword, or the
// value after it, from the programs loaded now.
func completeSelector(w io.Writer, args []string, cur string) {
	kw := ""
	if n := len(args); n > 0 {
		kw = args[n-1]
	}
	if !selectorKeyword(kw) {
		if len(args) > 0 {
			return // a selector is there already
		}
		printCandidates(w, cur, []string{"id", "name", "tag", "pinned"})
		return
	}
	if kw == "pinned" {
		fmt.Fprintln(w, directiveFiles)
		return
	}
	progs, err := bpfprog.List(bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		return // not root: nothing to offer
	}
	var out []string
	for _, p := range progs {
		switch kw {
		case "id":
			out = append(out, strconv.FormatUint(uint64(p.ID), 10))
		case "name":
			out = append(out, p.FullName)
			if p.Name != "" && p.Name != p.FullName {
				out = append(out, p.Name)
			}
		case "tag":
			out = append(out, p.Tag)
		}
	}
	printCandidates(w, cur, out)
}

// completeValue completes the value of flag f.
func completeValue(w io.Writer, f *helpFlag, cur string) {
	switch f.value {
	case "FILE", "PATH", "DIR", "PROFILE":
		fmt.Fprintln(w, directiveFiles)
	case "EVENT":
		var out []string
		for _, e := range sampler.EventNames() {
			out = append(out, e, e+":u", e+":k")
		}
		printCandidates(w, cur, out)
	case "PIDS", "PID":
		completeList(w, cur, processIDs())
	case "USER":
		// The shell knows the users better than we do.
		fmt.Fprintln(w, ":users")
	case "HZ":
		printCandidates(w, cur, []string{"max", "99", "999", "4000"})
	case "MODE":
		printCandidates(w, cur, []string{"fp"})
	case "COLUMNS":
		completeList(w, cur, listColumnNames())
	}
}

// processIDs lists the processes running now.
func processIDs() []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// completeList completes the last element of a comma-separated list.
func completeList(w io.Writer, cur string, names []string) {
	done, last := "", cur
	if i := strings.LastIndexByte(cur, ','); i >= 0 {
		done, last = cur[:i+1], cur[i+1:]
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, last) && !slices.Contains(strings.Split(done, ","), n) {
			out = append(out, done+n)
		}
	}
	printCandidates(w, cur, out)
}

// printCandidates prints those of cands that start with cur, once each.
func printCandidates(w io.Writer, cur string, cands []string) {
	seen := map[string]bool{}
	bw := bufio.NewWriter(w)
	for _, c := range cands {
		if c == "" || seen[c] || !strings.HasPrefix(c, cur) {
			continue
		}
		seen[c] = true
		bw.WriteString(c)
		bw.WriteByte('\n')
	}
	bw.Flush()
}

// commandHelp returns what "bpfprof CMD -h" prints.
func commandHelp(c *command) string {
	var help bytes.Buffer
	c.run([]string{"-h"}, io.Discard, &help)
	return help.String()
}

// helpFlag is one flag as a command's -h lists it.
type helpFlag struct {
	short, long string
	// value names the flag's value (FILE), "" for a bool.
	value string
}

type helpFlags []helpFlag

// helpFlagLine matches a line of flagUsages: "  -o, --output FILE  text".
var helpFlagLine = regexp.MustCompile(`^  (?:-([^-\s]), )?\s*--([^\s=]+)(?: ([A-Z][A-Z0-9_|,.]*))?(?:  |$)`)

// parseHelpFlags reads the flags from a command's -h: every command's
// flags are declared where it parses them, and its help is the one place
// that lists them all without running it.
func parseHelpFlags(help string) helpFlags {
	var fs helpFlags
	for line := range strings.Lines(help) {
		m := helpFlagLine.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil {
			continue
		}
		fs = append(fs, helpFlag{short: m[1], long: m[2], value: m[3]})
	}
	return fs
}

// lookup returns the long flag that word (--output, --output=x) names, or
// nil.
func (fs helpFlags) lookup(word string) *helpFlag {
	long, ok := strings.CutPrefix(word, "--")
	if !ok {
		return nil
	}
	long, _, _ = strings.Cut(long, "=")
	for i := range fs {
		if fs[i].long == long {
			return &fs[i]
		}
	}
	return nil
}

// valueNext returns the flag whose value is the word after word (as after
// -o, --output, -qo), or nil.
func (fs helpFlags) valueNext(word string) *helpFlag {
	if strings.HasPrefix(word, "--") {
		if f := fs.lookup(word); f != nil && f.value != "" && !strings.Contains(word, "=") {
			return f
		}
		return nil
	}
	short, ok := strings.CutPrefix(word, "-")
	if !ok {
		return nil
	}
	// In a group such as -qo the first flag that takes a value takes the
	// rest of the word, or the next word if it ends the group.
	for j, r := range short {
		for i := range fs {
			if fs[i].short == string(r) && fs[i].value != "" {
				if j == len(short)-1 {
					return &fs[i]
				}
				return nil
			}
		}
	}
	return nil
}
