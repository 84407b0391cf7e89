package main

// completionScripts are what 'bpfprof completion SHELL' prints. Each hands
// the words up to the cursor to 'bpfprof __complete' and shows what it
// prints, or completes files, commands or users itself on a directive.
var completionScripts = map[string]string{
	"bash": `# bash completion for bpfprof: source <(bpfprof completion bash)
_bpfprof() {
	local line=${COMP_LINE:0:COMP_POINT} out cur pre IFS
	local -a words
	# Split the line ourselves: COMP_WORDS breaks words at = and :, which
	# flags (--output=FILE) and events (cpu-clock:u) contain.
	read -ra words <<<"$line"
	[[ $line == *[[:space:]] ]] && words+=("")
	((${#words[@]} > 1)) || return 0
	cur=${words[${#words[@]}-1]}
	out=$("${words[0]}" __complete "${words[@]:1}" 2>/dev/null) || return 0
	IFS=$'\n'
	case $out in
	:files)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "${cur#*=}"))
		return 0 ;;
	:commands) COMPREPLY=($(compgen -c -- "$cur")) ;;
	:users) COMPREPLY=($(compgen -u -- "$cur")) ;;
	*) COMPREPLY=($out) ;;
	esac
	# bash replaces only what follows the last word break in the word.
	pre=${cur%"${cur##*[$COMP_WORDBREAKS]}"}
	[[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]#"$pre"}")
	return 0
}
complete -F _bpfprof bpfprof
`,
	"zsh": `#compdef bpfprof
# zsh completion for bpfprof: source <(bpfprof completion zsh), or save as
# _bpfprof in a directory of $fpath.
_bpfprof() {
	local out
	out=$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
	case $out in
	:files) _files ;;
	:commands) _command_names -e ;;
	:users) _users ;;
	*)
		local -a cands
		cands=(${(f)out})
		compadd -Q -- $cands ;;
	esac
}
if [[ $funcstack[1] == _bpfprof ]]; then
	_bpfprof "$@"
else
	compdef _bpfprof bpfprof
fi
`,
	"fish": `# fish completion for bpfprof: bpfprof completion fish | source
function __bpfprof_complete
	set -l cur (commandline -ct)
	set -l words (commandline -opc) "$cur"
	set -l out ($words[1] __complete $words[2..-1] 2>/dev/null)
	switch "$out[1]"
		case :files
			__fish_complete_path (string replace -r '^.*=' '' -- "$cur")
		case :commands
			__fish_complete_command
		case :users
			__fish_complete_users
		case '*'
			printf '%s\n' $out
	end
end
complete -c bpfprof -f -a '(__bpfprof_complete)'
`,
}
