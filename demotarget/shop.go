package demotarget

import (
	"container/list"
	crand "crypto/rand"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// The shop: a fixed catalogue, logins that hand out bearer tokens, and a
// cart per session.

const (
	// maxShopBody bounds login and cart request bodies.
	maxShopBody = 16 << 10
	// maxUserLen bounds a login's user name.
	maxUserLen = 64
	// maxAddQty and maxLineQty bound a cart line, so totals stay small.
	maxAddQty  = 99
	maxLineQty = 999
	// wrongPassword is the one password login refuses, so that failures
	// can be demonstrated on purpose.
	wrongPassword = "wrong"
	currency      = "EUR"
)

type product struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price cents  `json:"price"`
	Stock int    `json:"stock"`
}

// cents keeps money exact inside and prints it as a decimal number.
type cents int64

func (c cents) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(c)/100, 'f', -1, 64), nil
}

func newCatalog() []product {
	return []product{
		{ID: "sku-1001", Name: "Canary seed mix, 1 kg", Price: 450, Stock: 120},
		{ID: "sku-1002", Name: "Cuttlebone (3 pack)", Price: 220, Stock: 300},
		{ID: "sku-1003", Name: "Bird bath", Price: 1990, Stock: 25},
		{ID: "sku-1004", Name: "Swing perch", Price: 675, Stock: 60},
		{ID: "sku-1005", Name: "Millet spray (5 pack)", Price: 840, Stock: 80},
		{ID: "sku-1006", Name: "Travel cage", Price: 4900, Stock: 8},
	}
}

func (s *Server) product(id string) (product, bool) {
	for _, p := range s.catalog {
		if p.ID == id {
			return p, true
		}
	}
	return product{}, false
}

func (s *Server) listProducts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Products []product `json:"products"`
		Count    int       `json:"count"`
		Currency string    `json:"currency"`
	}{s.catalog, len(s.catalog), currency})
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := s.product(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no product with this id")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type user struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	var missing []string
	if req.User == "" {
		missing = append(missing, "user")
	}
	if req.Password == "" {
		missing = append(missing, "password")
	}
	switch {
	case len(missing) > 0:
		writeError(w, http.StatusBadRequest, strings.Join(missing, " and ")+" required")
		return
	case len(req.User) > maxUserLen:
		writeError(w, http.StatusBadRequest, "user longer than "+strconv.Itoa(maxUserLen)+" bytes")
		return
	case req.Password == wrongPassword:
		w.Header().Set("WWW-Authenticate", `Bearer realm="canary-demo"`)
		writeError(w, http.StatusUnauthorized, "invalid user or password")
		return
	}
	u := user{ID: userID(req.User), Name: req.User}
	roles := []string{"customer"}
	if req.User == "admin" {
		roles = append(roles, "admin")
	}
	token := s.sessions.create(u, roles)
	writeJSON(w, http.StatusOK, struct {
		Token string   `json:"token"`
		User  user     `json:"user"`
		Roles []string `json:"roles"`
	}{token, u, roles})
}

// userID is stable per name, so the same user gets the same id in every
// session, and never 0.
func userID(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()%999_999 + 1
}

type cartLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Qty       int    `json:"qty"`
	UnitPrice cents  `json:"unit_price"`
	Subtotal  cents  `json:"subtotal"`
}

type cartView struct {
	Order    string     `json:"order"`
	Items    []cartLine `json:"items"`
	Count    int        `json:"count"` // units over all lines
	Total    cents      `json:"total"`
	Currency string     `json:"currency"`
}

func (s *Server) getCart(w http.ResponseWriter, r *http.Request) {
	var view cartView
	if !s.withSession(w, r, func(ss *session) { view = ss.view() }) {
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) getCartItem(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	var line cartLine
	var found bool
	if !s.withSession(w, r, func(ss *session) {
		for _, l := range ss.lines {
			if l.SKU == sku {
				line, found = l, true
			}
		}
	}) {
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "no item with this sku in the cart")
		return
	}
	writeJSON(w, http.StatusOK, line)
}

func (s *Server) addCartItem(w http.ResponseWriter, r *http.Request) {
	// Authenticate before reading the body, as a real API would.
	if !s.sessions.has(bearer(r)) {
		unauthorized(w)
		return
	}
	var req struct {
		SKU string `json:"sku"`
		Qty *int   `json:"qty"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	qty := 1
	if req.Qty != nil {
		qty = *req.Qty
	}
	switch {
	case req.SKU == "":
		writeError(w, http.StatusBadRequest, "sku required")
		return
	case qty < 1 || qty > maxAddQty:
		writeError(w, http.StatusBadRequest, "qty must be 1.."+strconv.Itoa(maxAddQty))
		return
	}
	p, ok := s.product(req.SKU)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "unknown sku (see GET /products)")
		return
	}
	var (
		order   string
		lines   int
		lineQty int
		full    bool
	)
	if !s.withSession(w, r, func(ss *session) {
		order = ss.order
		lineQty, full = ss.add(p, qty)
		lines = len(ss.lines)
	}) {
		return
	}
	if full {
		writeError(w, http.StatusUnprocessableEntity, "a cart line holds at most "+strconv.Itoa(maxLineQty))
		return
	}
	w.Header().Set("Location", "/cart/items/"+url.PathEscape(p.ID))
	writeJSON(w, http.StatusCreated, struct {
		Order string `json:"order"`
		Items int    `json:"items"` // lines in the cart
		SKU   string `json:"sku"`
		Qty   int    `json:"qty"` // of this sku in the cart
	}{order, lines, p.ID, lineQty})
}

// withSession runs fn on the session of r's bearer token under the
// store's lock, or answers 401.
func (s *Server) withSession(w http.ResponseWriter, r *http.Request, fn func(*session)) bool {
	if !s.sessions.with(bearer(r), fn) {
		unauthorized(w)
		return false
	}
	return true
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="canary-demo"`)
	writeError(w, http.StatusUnauthorized, "missing or unknown bearer token (POST /login first)")
}

func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// decodeJSON reads r's body (bounded) into v; on failure it has answered.
// Unknown keys are ignored, as most real APIs do.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	data, ok := readBody(w, r, maxShopBody)
	if !ok {
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

// session is one login and its cart.
type session struct {
	token string
	user  user
	roles []string
	order string
	lines []cartLine // at most one per catalogue product
}

func (ss *session) add(p product, qty int) (lineQty int, full bool) {
	for i := range ss.lines {
		l := &ss.lines[i]
		if l.SKU != p.ID {
			continue
		}
		if l.Qty+qty > maxLineQty {
			return l.Qty, true
		}
		l.Qty += qty
		l.Subtotal = l.UnitPrice * cents(l.Qty)
		return l.Qty, false
	}
	ss.lines = append(ss.lines, cartLine{SKU: p.ID, Name: p.Name, Qty: qty, UnitPrice: p.Price, Subtotal: p.Price * cents(qty)})
	return qty, false
}

func (ss *session) view() cartView {
	v := cartView{Order: ss.order, Items: append([]cartLine{}, ss.lines...), Currency: currency}
	for _, l := range ss.lines {
		v.Count += l.Qty
		v.Total += l.Subtotal
	}
	return v
}

// sessionStore holds at most max sessions, evicting the least recently
// used: a demo under a long load test must not grow without bound.
type sessionStore struct {
	mu        sync.Mutex
	max       int
	byToken   map[string]*list.Element // of *session
	lru       *list.List               // front = most recently used
	evicted   int64
	nextOrder uint64
}

func newSessionStore(max int) *sessionStore {
	return &sessionStore{max: max, byToken: make(map[string]*list.Element), lru: list.New(), nextOrder: 100000}
}

func (st *sessionStore) create(u user, roles []string) string {
	token := crand.Text()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.nextOrder++
	ss := &session{token: token, user: u, roles: roles, order: strconv.FormatUint(st.nextOrder, 10)}
	st.byToken[token] = st.lru.PushFront(ss)
	for st.lru.Len() > st.max {
		oldest := st.lru.Back()
		st.lru.Remove(oldest)
		delete(st.byToken, oldest.Value.(*session).token)
		st.evicted++
	}
	return token
}

func (st *sessionStore) has(token string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.byToken[token]
	return ok
}

// with runs fn on token's session under the lock and marks it used.
func (st *sessionStore) with(token string, fn func(*session)) bool {
	if token == "" {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byToken[token]
	if !ok {
		return false
	}
	st.lru.MoveToFront(e)
	fn(e.Value.(*session))
	return true
}

func (st *sessionStore) stats() (active int, evicted int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lru.Len(), st.evicted
}
