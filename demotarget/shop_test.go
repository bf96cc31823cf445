package demotarget

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// login logs user in and returns the token.
func login(t *testing.T, s http.Handler, user string) string {
	t.Helper()
	a := serve(t, s, "POST", "/login", fmt.Sprintf(`{"user":%q,"password":"secret"}`, user))
	require.Equal(t, http.StatusOK, a.status, "login %q: %s", user, a.body)
	tok, _ := a.json(t)["token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

func TestLogin(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, tc := range []struct {
		name   string
		body   string
		status int
		errMsg string
	}{
		{"ok", `{"user":"alice","password":"demo"}`, 200, ""},
		{"unknown keys ignored", `{"user":"alice","password":"demo","remember":true}`, 200, ""},
		{"wrong password", `{"user":"alice","password":"wrong"}`, 401, "invalid user or password"},
		{"missing user", `{"password":"demo"}`, 400, "user required"},
		{"missing password", `{"user":"alice"}`, 400, "password required"},
		{"missing both", `{}`, 400, "user and password required"},
		{"empty body", ``, 400, "invalid JSON body"},
		{"not JSON", `user=alice`, 400, "invalid JSON body"},
		{"wrong type", `{"user":1,"password":"demo"}`, 400, "invalid JSON body"},
		{"user too long", `{"user":"` + strings.Repeat("u", maxUserLen+1) + `","password":"demo"}`, 400, "user longer than"},
		{"oversized body", `{"user":"alice","password":"` + strings.Repeat("p", maxShopBody) + `"}`, 413, "request body exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, s, "POST", "/login", tc.body, "Content-Type", "application/json")
			require.Equal(t, tc.status, a.status, "POST /login %s: %s", tc.body, a.body)
			m := a.json(t)
			assert.NotEmpty(t, a.header.Get("X-Request-Id"))
			if tc.status != 200 {
				assert.Contains(t, m["error"], tc.errMsg)
				assert.NotContains(t, m, "token")
				return
			}
			assert.Len(t, m["token"], 26)
			u := m["user"].(map[string]any)
			assert.Equal(t, "alice", u["name"])
			assert.Greater(t, u["id"], float64(0))
			assert.Equal(t, []any{"customer"}, m["roles"])
		})
	}
	if a := serve(t, s, "POST", "/login", `{"user":"alice","password":"wrong"}`); assert.Equal(t, 401, a.status) {
		assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
	}
}

func TestLoginUsers(t *testing.T) {
	s := New(Options{Seed: 1})
	get := func(user string) map[string]any {
		a := serve(t, s, "POST", "/login", fmt.Sprintf(`{"user":%q,"password":"x"}`, user))
		require.Equal(t, 200, a.status)
		return a.json(t)
	}
	a1, a2, b := get("alice"), get("alice"), get("bob")
	assert.Equal(t, a1["user"], a2["user"], "the same user keeps the same id")
	assert.NotEqual(t, a1["token"], a2["token"], "each login is a new session")
	assert.NotEqual(t, a1["user"], b["user"])
	assert.Equal(t, []any{"customer", "admin"}, get("admin")["roles"])
}

func TestProducts(t *testing.T) {
	s := New(Options{Seed: 1})
	a := serve(t, s, "GET", "/products", "")
	require.Equal(t, 200, a.status)
	var list struct {
		Products []struct {
			ID    string
			Name  string
			Price float64
		}
		Count int
	}
	require.NoError(t, json.Unmarshal(a.body, &list))
	require.Len(t, list.Products, 6)
	assert.Equal(t, 6, list.Count)
	assert.Equal(t, "sku-1001", list.Products[0].ID)
	assert.Equal(t, 4.5, list.Products[0].Price)

	for _, tc := range []struct {
		id     string
		status int
	}{
		{"sku-1003", 200},
		{"sku-9999", 404},
		{"1003", 404},
	} {
		a := serve(t, s, "GET", "/products/"+tc.id, "")
		require.Equal(t, tc.status, a.status, "GET /products/%s", tc.id)
		if tc.status == 200 {
			assert.JSONEq(t, `{"id":"sku-1003","name":"Bird bath","price":19.9,"stock":25}`, string(a.body))
		} else {
			assert.Contains(t, a.json(t)["error"], "no product")
		}
	}
}

func TestLoginCartFlow(t *testing.T) {
	_, ts := newHTTPTest(t, Options{Seed: 1})
	c := ts.Client()
	a := fetch(t, c, "POST", ts.URL+"/login", `{"user":"alice","password":"demo"}`)
	require.Equal(t, 200, a.status)
	tok := a.json(t)["token"].(string)
	auth := []string{"Authorization", "Bearer " + tok}

	a = fetch(t, c, "GET", ts.URL+"/cart", "", auth...)
	require.Equal(t, 200, a.status, "%s", a.body)
	empty := a.json(t)
	order := empty["order"].(string)
	assert.Regexp(t, `^\d+$`, order)
	assert.Equal(t, []any{}, empty["items"])
	assert.Equal(t, float64(0), empty["total"])

	add := func(body string) answer {
		return fetch(t, c, "POST", ts.URL+"/cart/items", body, append(auth, "Content-Type", "application/json")...)
	}
	a = add(`{"sku":"sku-1001","qty":2}`)
	require.Equal(t, 201, a.status, "%s", a.body)
	assert.Equal(t, "/cart/items/sku-1001", a.header.Get("Location"))
	assert.JSONEq(t, fmt.Sprintf(`{"order":%q,"items":1,"sku":"sku-1001","qty":2}`, order), string(a.body))

	a = add(`{"sku":"sku-1001","qty":1}`)
	require.Equal(t, 201, a.status)
	assert.Equal(t, float64(3), a.json(t)["qty"], "adding a sku again adds to its line")
	a = add(`{"sku":"sku-1003"}`)
	require.Equal(t, 201, a.status)
	assert.Equal(t, float64(2), a.json(t)["items"], "qty defaults to 1")

	a = fetch(t, c, "GET", ts.URL+"/cart", "", auth...)
	require.Equal(t, 200, a.status)
	assert.JSONEq(t, fmt.Sprintf(`{"order":%q,"currency":"EUR","count":4,"total":33.4,"items":[
		{"sku":"sku-1001","name":"Canary seed mix, 1 kg","qty":3,"unit_price":4.5,"subtotal":13.5},
		{"sku":"sku-1003","name":"Bird bath","qty":1,"unit_price":19.9,"subtotal":19.9}]}`, order), string(a.body))

	a = fetch(t, c, "GET", ts.URL+"/cart/items/sku-1003", "", auth...)
	require.Equal(t, 200, a.status)
	assert.Equal(t, float64(1), a.json(t)["qty"])
	a = fetch(t, c, "GET", ts.URL+"/cart/items/sku-1002", "", auth...)
	assert.Equal(t, 404, a.status, "a product not in the cart")

	// Another session has its own cart.
	other := login(t, ts.Config.Handler, "bob")
	a = fetch(t, c, "GET", ts.URL+"/cart", "", "Authorization", "Bearer "+other)
	require.Equal(t, 200, a.status)
	assert.Equal(t, []any{}, a.json(t)["items"])
	assert.NotEqual(t, order, a.json(t)["order"])
}

func TestCartAuth(t *testing.T) {
	s := New(Options{Seed: 1})
	tok := login(t, s, "alice")
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no header", "", 401},
		{"unknown token", "Bearer nope", 401},
		{"basic scheme", "Basic " + tok, 401},
		{"bearer without token", "Bearer ", 401},
		{"lower-case scheme", "bearer " + tok, 200},
		{"valid", "Bearer " + tok, 200},
	} {
		for _, r := range []struct{ method, target, body string }{
			{"GET", "/cart", ""},
			{"POST", "/cart/items", `{"sku":"sku-1002"}`},
			{"GET", "/cart/items/sku-1002", ""},
		} {
			t.Run(tc.name+" "+r.method+" "+r.target, func(t *testing.T) {
				a := serve(t, s, r.method, r.target, r.body, "Authorization", tc.auth)
				if tc.status == 200 {
					assert.Less(t, a.status, 300, "%s %s with %q: %s", r.method, r.target, tc.auth, a.body)
					return
				}
				require.Equal(t, tc.status, a.status, "%s %s with %q", r.method, r.target, tc.auth)
				assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
				assert.Contains(t, a.json(t)["error"], "bearer token")
			})
		}
	}
}

func TestAddItemErrors(t *testing.T) {
	s := New(Options{Seed: 1})
	tok := login(t, s, "alice")
	for _, tc := range []struct {
		name   string
		body   string
		status int
		errMsg string
	}{
		{"missing sku", `{"qty":1}`, 400, "sku required"},
		{"qty zero", `{"sku":"sku-1001","qty":0}`, 400, "qty must be 1..99"},
		{"qty negative", `{"sku":"sku-1001","qty":-3}`, 400, "qty must be"},
		{"qty too large", `{"sku":"sku-1001","qty":100}`, 400, "qty must be"},
		{"qty not a number", `{"sku":"sku-1001","qty":"2"}`, 400, "invalid JSON body"},
		{"unknown sku", `{"sku":"sku-0000","qty":1}`, 422, "unknown sku"},
		{"not JSON", `sku=1`, 400, "invalid JSON body"},
		{"oversized", `{"sku":"` + strings.Repeat("s", maxShopBody) + `"}`, 413, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, s, "POST", "/cart/items", tc.body, "Authorization", "Bearer "+tok)
			require.Equal(t, tc.status, a.status, "POST /cart/items %s: %s", tc.body, a.body)
			assert.Contains(t, a.json(t)["error"], tc.errMsg)
			assert.Empty(t, a.header.Get("Location"))
		})
	}

	t.Run("line quantity bound", func(t *testing.T) {
		for i := range maxLineQty / maxAddQty {
			a := serve(t, s, "POST", "/cart/items", `{"sku":"sku-1002","qty":99}`, "Authorization", "Bearer "+tok)
			require.Equal(t, 201, a.status, "add #%d", i)
		}
		a := serve(t, s, "POST", "/cart/items", `{"sku":"sku-1002","qty":99}`, "Authorization", "Bearer "+tok)
		require.Equal(t, 422, a.status)
		assert.Contains(t, a.json(t)["error"], "at most 999")
		item := serve(t, s, "GET", "/cart/items/sku-1002", "", "Authorization", "Bearer "+tok)
		assert.Equal(t, float64(990), item.json(t)["qty"], "a refused add changes nothing")
	})
}

func TestSessionsAreBounded(t *testing.T) {
	s := New(Options{Seed: 1, MaxSessions: 3})
	t1, t2 := login(t, s, "u1"), login(t, s, "u2")
	// Using t1 makes t2 the least recently used.
	require.Equal(t, 200, serve(t, s, "GET", "/cart", "", "Authorization", "Bearer "+t1).status)
	t3, t4, t5 := login(t, s, "u3"), login(t, s, "u4"), login(t, s, "u5")

	for _, tc := range []struct {
		name, token string
		alive       bool
	}{
		{"t1 evicted after t2", t1, false},
		{"t2 least recently used", t2, false},
		{"t3", t3, true},
		{"t4", t4, true},
		{"t5 newest", t5, true},
	} {
		a := serve(t, s, "GET", "/cart", "", "Authorization", "Bearer "+tc.token)
		if tc.alive {
			assert.Equal(t, 200, a.status, tc.name)
		} else {
			assert.Equal(t, 401, a.status, tc.name)
		}
	}
	st := s.Stats().Sessions
	assert.Equal(t, SessionStats{Active: 3, Max: 3, Evicted: 2}, st)
}

func TestSessionStoreLRUOrder(t *testing.T) {
	st := newSessionStore(2)
	a := st.create(user{ID: 1}, nil)
	b := st.create(user{ID: 2}, nil)
	require.True(t, st.with(a, func(*session) {}), "touch a")
	c := st.create(user{ID: 3}, nil)
	assert.True(t, st.has(a))
	assert.False(t, st.has(b), "b was least recently used")
	assert.True(t, st.has(c))
	assert.False(t, st.has(""))
	active, evicted := st.stats()
	assert.Equal(t, 2, active)
	assert.Equal(t, int64(1), evicted)
}
