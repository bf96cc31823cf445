package dashboards

// The Grafana dashboard model: the subset of Grafana's dashboard JSON
// (schemaVersion 39) that the generated dashboard uses, as typed structs.

// grafanaDashboard is a whole dashboard.
type grafanaDashboard struct {
	Annotations   annotationList `json:"annotations"`
	Description   string         `json:"description,omitempty"`
	Editable      bool           `json:"editable"`
	GraphTooltip  int            `json:"graphTooltip"` // 1 = shared crosshair
	ID            *int           `json:"id"`           // null: Grafana assigns one on import
	Links         []dashLink     `json:"links"`
	Panels        []panel        `json:"panels"`
	Refresh       string         `json:"refresh,omitempty"`
	SchemaVersion int            `json:"schemaVersion"`
	Tags          []string       `json:"tags"`
	Templating    templating     `json:"templating"`
	Time          timeRange      `json:"time"`
	Timezone      string         `json:"timezone"`
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	Version       int            `json:"version"`
}

type annotationList struct {
	List []annotation `json:"list"`
}

// annotation is a built-in or a PromQL annotation query.
type annotation struct {
	BuiltIn     int           `json:"builtIn,omitempty"`
	Datasource  datasourceRef `json:"datasource,omitzero"`
	Enable      bool          `json:"enable"`
	Hide        bool          `json:"hide"`
	IconColor   string        `json:"iconColor"`
	Name        string        `json:"name"`
	Type        string        `json:"type,omitempty"`
	Expr        string        `json:"expr,omitempty"`
	Step        string        `json:"step,omitempty"`
	TitleFormat string        `json:"titleFormat,omitempty"`
	TextFormat  string        `json:"textFormat,omitempty"`
}

type dashLink struct {
	Title string `json:"title"`
	Type  string `json:"type"` // "link"
	URL   string `json:"url"`
	Icon  string `json:"icon,omitempty"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type templating struct {
	List []variable `json:"list"`
}

// variable is a template variable: a datasource picker or a PromQL query.
type variable struct {
	Name       string        `json:"name"`
	Label      string        `json:"label,omitempty"`
	Type       string        `json:"type"` // "datasource", "query"
	Datasource datasourceRef `json:"datasource,omitzero"`
	Definition string        `json:"definition,omitempty"`
	// Query is the datasource type for a datasource variable, the query
	// (label_values(...)) for a query variable.
	Query      string         `json:"query"`
	Regex      string         `json:"regex"`
	Refresh    int            `json:"refresh"` // 1 on load, 2 on time-range change
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue,omitempty"`
	Sort       int            `json:"sort"`
	Hide       int            `json:"hide"`
	Current    variableOption `json:"current"`
	Options    []string       `json:"options"`
}

type variableOption struct {
	Selected bool     `json:"selected,omitempty"`
	Text     []string `json:"text,omitempty"`
	Value    []string `json:"value,omitempty"`
}

// panel is any panel, rows included (Type "row").
type panel struct {
	ID          int           `json:"id"`
	Type        string        `json:"type"`
	Title       string        `json:"title"`
	Description string        `json:"description,omitempty"`
	GridPos     gridPos       `json:"gridPos"`
	Datasource  datasourceRef `json:"datasource,omitzero"`
	Targets     []target      `json:"targets,omitempty"`
	FieldConfig *fieldConfig  `json:"fieldConfig,omitempty"`
	Options     *panelOptions `json:"options,omitempty"`
	// Rows only.
	Collapsed *bool   `json:"collapsed,omitempty"`
	Panels    []panel `json:"panels,omitempty"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// target is one PromQL query of a panel.
type target struct {
	Datasource   datasourceRef `json:"datasource,omitzero"`
	EditorMode   string        `json:"editorMode,omitempty"`
	Expr         string        `json:"expr"`
	Instant      bool          `json:"instant"`
	Range        bool          `json:"range"`
	LegendFormat string        `json:"legendFormat,omitempty"`
	RefID        string        `json:"refId"`
}

type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []override    `json:"overrides"`
}

type fieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Color      *fieldColor    `json:"color,omitempty"`
	Custom     *fieldCustom   `json:"custom,omitempty"`
	Mappings   []valueMapping `json:"mappings"`
	Thresholds thresholds     `json:"thresholds"`
}

type fieldColor struct {
	Mode string `json:"mode"` // "palette-classic", "thresholds"
}

// fieldCustom holds the time-series panel's drawing options.
type fieldCustom struct {
	DrawStyle       string          `json:"drawStyle"`
	LineWidth       int             `json:"lineWidth"`
	FillOpacity     int             `json:"fillOpacity"`
	ShowPoints      string          `json:"showPoints"`
	SpanNulls       bool            `json:"spanNulls"`
	Stacking        stacking        `json:"stacking"`
	ThresholdsStyle thresholdsStyle `json:"thresholdsStyle"`
}

type stacking struct {
	Mode  string `json:"mode"` // "none", "normal"
	Group string `json:"group"`
}

type thresholdsStyle struct {
	Mode string `json:"mode"` // "off", "line+area", "dashed"
}

type lineStyle struct {
	Fill string `json:"fill"` // "solid", "dash"
	Dash []int  `json:"dash,omitempty"`
}

type thresholds struct {
	Mode  string          `json:"mode"` // "absolute"
	Steps []thresholdStep `json:"steps"`
}

// thresholdStep starts a colour at Value; the first step has a null Value
// (minus infinity).
type thresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// valueMapping maps exact values to text and colour. Grafana keys the
// options by the value's text, so that one field is a map.
type valueMapping struct {
	Type    string                   `json:"type"` // "value"
	Options map[string]mappingResult `json:"options"`
}

type mappingResult struct {
	Text  string `json:"text"`
	Color string `json:"color"`
	Index int    `json:"index"`
}

// override changes field options for the series a matcher selects.
type override struct {
	Matcher    matcher            `json:"matcher"`
	Properties []overrideProperty `json:"properties"`
}

type matcher struct {
	ID      string `json:"id"` // "byRegexp"
	Options string `json:"options"`
}

type overrideProperty struct {
	ID    string     `json:"id"` // "custom.lineStyle"
	Value *lineStyle `json:"value"`
}

// panelOptions holds the options of every panel type used; each type reads
// its own fields and the others stay empty.
type panelOptions struct {
	// timeseries
	Legend  *legend  `json:"legend,omitempty"`
	Tooltip *tooltip `json:"tooltip,omitempty"`
	// stat
	ReduceOptions *reduceOptions `json:"reduceOptions,omitempty"`
	ColorMode     string         `json:"colorMode,omitempty"`
	GraphMode     string         `json:"graphMode,omitempty"`
	TextMode      string         `json:"textMode,omitempty"`
	JustifyMode   string         `json:"justifyMode,omitempty"`
	Orientation   string         `json:"orientation,omitempty"`
	// text
	Mode    string `json:"mode,omitempty"`
	Content string `json:"content,omitempty"`
}

type legend struct {
	DisplayMode string   `json:"displayMode"` // "list", "table"
	Placement   string   `json:"placement"`
	ShowLegend  bool     `json:"showLegend"`
	Calcs       []string `json:"calcs"`
}

type tooltip struct {
	Mode string `json:"mode"` // "multi"
	Sort string `json:"sort"` // "desc"
}

type reduceOptions struct {
	Calcs  []string `json:"calcs"`
	Fields string   `json:"fields"`
	Values bool     `json:"values"`
}
