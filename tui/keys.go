package tui

import "charm.land/bubbles/v2/key"

// KeyMap holds every key binding of the TUI.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	// SortNext and SortPrev choose the sort column, SortReverse flips
	// the order.
	SortNext, SortPrev, SortReverse key.Binding
	Filter                          key.Binding
	Pause                           key.Binding
	Open, Back                      key.Binding
	Faster, Slower                  key.Binding
	Help                            key.Binding
	Quit                            key.Binding
	// Program view: listing mode, hottest line, next and previous hot
	// line, and expanding a source line into its instructions.
	Mode, Hottest, NextHot, PrevHot, Expand key.Binding
}

// DefaultKeyMap returns the bindings described in the README.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Up:          b([]string{"up", "k"}, "↑/k", "up"),
		Down:        b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:      b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:    b([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		Home:        b([]string{"home", "g"}, "g/home", "first"),
		End:         b([]string{"end", "G"}, "G/end", "last"),
		SortNext:    b([]string{"s", ">"}, "s/>", "sort by next column"),
		SortPrev:    b([]string{"<"}, "<", "sort by previous column"),
		SortReverse: b([]string{"S"}, "S", "reverse sort"),
		Filter:      b([]string{"/", "f"}, "/", "filter"),
		Pause:       b([]string{"p", "space"}, "p", "pause"),
		Open:        b([]string{"enter"}, "enter", "open program"),
		Back:        b([]string{"esc", "backspace"}, "esc", "back"),
		Faster:      b([]string{"-"}, "-", "shorter delay"),
		Slower:      b([]string{"+", "="}, "+", "longer delay"),
		Help:        b([]string{"?"}, "?", "all keys"),
		Quit:        b([]string{"q", "ctrl+c"}, "q", "quit"),
		Mode:        b([]string{"tab"}, "tab", "source/xlated/JIT"),
		Hottest:     b([]string{"H"}, "H", "hottest line"),
		NextHot:     b([]string{"n"}, "n", "next hot line"),
		PrevHot:     b([]string{"N"}, "N", "previous hot line"),
		Expand:      b([]string{"right", "l", "x"}, "x/→", "expand line"),
	}
}

// mainKeys is the help of the main view.
type mainKeys struct{ k *KeyMap }

// ShortHelp is the one-line help bar of the main view.
func (h mainKeys) ShortHelp() []key.Binding {
	k := h.k
	return []key.Binding{k.Quit, k.Open, k.SortNext, k.Filter, k.Pause, k.Help}
}

// FullHelp is every key of the main view.
func (h mainKeys) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.SortNext, k.SortPrev, k.SortReverse, k.Filter},
		{k.Open, k.Pause, k.Faster, k.Slower, k.Help, k.Quit},
	}
}

// programKeys is the help of the program view.
type programKeys struct{ k *KeyMap }

// ShortHelp is the one-line help bar of the program view.
func (h programKeys) ShortHelp() []key.Binding {
	k := h.k
	return []key.Binding{k.Back, k.Mode, k.Hottest, k.NextHot, k.PrevHot, k.Expand, k.Help}
}

// FullHelp is every key of the program view.
func (h programKeys) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Mode, k.Hottest, k.NextHot, k.PrevHot, k.Expand},
		{k.Back, k.Pause, k.Faster, k.Slower, k.Help, k.Quit},
	}
}
