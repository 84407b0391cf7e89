package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testprogs"
)

func completions(words ...string) []string {
	var out bytes.Buffer
	complete(words, &out)
	return strings.Fields(out.String())
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  []string // exactly, in order
	}{
		{[]string{"li"}, []string{"list"}},
		{[]string{"--v"}, []string{"--version"}},
		{[]string{"help", "rec"}, []string{"record"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"list", "--p"}, []string{"--pretty"}},
		{[]string{"list", "--columns=id,run_t"}, []string{"--columns=id,run_time_ns"}},
		{[]string{"list", "-o", "map"}, []string{"map_ids"}},
		{[]string{"list", "-jo", "loaded"}, []string{"loaded_at"}},
		{[]string{"list", "n"}, []string{"name"}},
		{[]string{"list", "pinned", ""}, []string{directiveFiles}},
		{[]string{"list", "id", "1", ""}, nil},
		{[]string{"record", "--call"}, []string{"--call-graph"}},
		{[]string{"record", "--call-graph", ""}, []string{"fp"}},
		{[]string{"record", "-e", "page-f"}, []string{"page-faults", "page-faults:u", "page-faults:k"}},
		{[]string{"record", "--event=cpu-clock:"}, []string{"--event=cpu-clock:u", "--event=cpu-clock:k"}},
		{[]string{"record", "-F", "m"}, []string{"max"}},
		{[]string{"record", "-o", ""}, []string{directiveFiles}},
		{[]string{"record", "-u", ""}, []string{":users"}},
		{[]string{"record", "-F", "99", ""}, []string{directiveCommands}},
		{[]string{"record", "-F", "99", "make", "-"}, []string{directiveFiles}},
		{[]string{"record", "--", "-"}, []string{directiveCommands}},
		{[]string{"nonsense", ""}, nil},
	} {
		if got := completions(tc.words...); !slices.Equal(got, tc.want) {
			t.Errorf("complete %q = %q, want %q", tc.words, got, tc.want)
		}
	}
	// Every flag of record's -h, in both forms.
	got := completions("record", "-")
	for _, want := range []string{"-p", "--pid", "-F", "--freq", "-o", "--output", "--bpf-only", "--no-call-graph", "-q", "--verbose"} {
		if !slices.Contains(got, want) {
			t.Errorf("record - completes %q, lacks %s", got, want)
		}
	}
	if slices.Contains(got, "--call-graph-fp") {
		t.Errorf("record - completes the hidden flag: %q", got)
	}
	if got := completions("record", "-p", strconv.Itoa(os.Getpid())); !slices.Contains(got, strconv.Itoa(os.Getpid())) {
		t.Errorf("record -p %d completes %q, not this process", os.Getpid(), got)
	}
}

// TestCompletePrograms checks that program ids, names and tags come from
// the running system.
func TestCompletePrograms(t *testing.T) {
	listCheckNoNewFDs(t)
	objs := listLoadAll(t)
	id := listProgramID(t, objs[testprogs.Hot])
	if got := completions("list", "id", strconv.Itoa(int(id))); !slices.Contains(got, strconv.Itoa(int(id))) {
		t.Errorf("list id %d completes %q", id, got)
	}
	if got := completions("list", "name", testprogs.HotFunc[:8]); !slices.Contains(got, testprogs.HotFunc) {
		t.Errorf("list name %s completes %q, lacks %s", testprogs.HotFunc[:8], got, testprogs.HotFunc)
	}
	if got := completions("list", "-j", "tag", ""); len(got) == 0 || len(got[0]) != 16 {
		t.Errorf("list tag completes %q", got)
	}
}

// TestCompletionScripts runs the bash script as bash runs it on Tab, and
// has zsh and fish check the syntax of theirs where they are installed.
func TestCompletionScripts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bpfprof")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for shell, script := range completionScripts {
		var out bytes.Buffer
		if code := run([]string{"completion", shell}, &out, &bytes.Buffer{}); code != 0 || out.String() != script {
			t.Errorf("completion %s: exit %d", shell, code)
		}
		path := filepath.Join(t.TempDir(), shell)
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s not installed: its script is not checked", shell)
			continue
		}
		if out, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
		if shell != "bash" {
			continue
		}
		cmd := exec.Command("bash", "--norc", "-c", `source "$1"
for line in "bpfprof li" "bpfprof record -e cpu-clock:" "bpfprof list --columns=id,run_c" "bpfprof record -F 99 "; do
	COMP_LINE=$line COMP_POINT=${#line} COMPREPLY=()
	_bpfprof
	echo "${COMPREPLY[*]:0:3}"
done`, "bash", path)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, got)
		}
		lines := strings.Split(string(got), "\n")
		// bash puts back only what follows the last = or : in a word.
		for i, want := range []string{"list", "u k", "id,run_cnt"} {
			if lines[i] != want {
				t.Errorf("bash completes line %d to %q, want %q", i, lines[i], want)
			}
		}
		if lines[3] == "" {
			t.Errorf("bash completes no command after record's flags")
		}
	}
	if code := run([]string{"completion", "tcsh"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
}
