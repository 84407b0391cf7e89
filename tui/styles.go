package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Styles are the looks of the TUI, built once: never inside View.
type Styles struct {
	Title, Header, Note, Warn lipgloss.Style
	// TableHeader is the column titles; Selected the row under the cursor.
	TableHeader, Selected lipgloss.Style
	// Hot, Warm and Cool colour heat: a share of samples over 20%, over
	// 5%, and above 0.
	Hot, Warm, Cool lipgloss.Style
	Chart           lipgloss.Style
	Help            help.Styles
}

// DefaultStyles returns the colours of the TUI for a dark background.
func DefaultStyles() Styles {
	return Styles{
		Title:       lipgloss.NewStyle().Bold(true),
		Header:      lipgloss.NewStyle().Foreground(lipgloss.Color("252")),
		Note:        lipgloss.NewStyle().Foreground(lipgloss.Color("244")),
		Warn:        lipgloss.NewStyle().Foreground(lipgloss.Color("214")).Bold(true),
		TableHeader: lipgloss.NewStyle().Bold(true).Reverse(true),
		Selected:    lipgloss.NewStyle().Reverse(true),
		Hot:         lipgloss.NewStyle().Foreground(lipgloss.Color("196")).Bold(true),
		Warm:        lipgloss.NewStyle().Foreground(lipgloss.Color("214")),
		Cool:        lipgloss.NewStyle().Foreground(lipgloss.Color("37")),
		Chart:       lipgloss.NewStyle().Foreground(lipgloss.Color("37")),
		Help:        help.DefaultDarkStyles(),
	}
}

// PlainStyles returns styles without colours or attributes, for terminals
// without colour (NO_COLOR) and for golden screens in tests.
func PlainStyles() Styles {
	p := lipgloss.NewStyle()
	return Styles{
		Title: p, Header: p, Note: p, Warn: p,
		TableHeader: p, Selected: p,
		Hot: p, Warm: p, Cool: p, Chart: p,
		Help: help.Styles{
			Ellipsis: p, ShortKey: p, ShortDesc: p, ShortSeparator: p,
			FullKey: p, FullDesc: p, FullSeparator: p,
		},
	}
}
