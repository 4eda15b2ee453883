-- Driven by tests/tests/vst3_ardour.rs through `ardour7-lua vst3_process.lua SESSION_DIR SECONDS`
-- (Ardour 7 headless). Loads the Lacquer VST3 into a session on the Dummy backend, renders a
-- known stereo tone through it with Ardour's track bounce (the host's own offline render path,
-- with its latency compensation) under several settings, and reports everything on stdout as
-- `LACQUER <key> <value>` lines; the Rust test reads the rendered WAV files and judges.
--
-- Needs the "Lacquer Test Tone" Lua DSP script (lacquer_test_tone.lua) in Ardour's user script
-- folder ($XDG_CONFIG_HOME/ardour7/scripts), and a VST3 cache made by ardour-vst3-scanner.

local session_dir = arg[1]
local seconds = tonumber (arg[2] or "2")
local RATE = 48000

local function report (key, value)
	print ("LACQUER " .. key .. " " .. tostring (value))
end

local function fail (msg)
	report ("fail", msg)
	close_session ()
	quit ()
	error (msg)
end

-- The Dummy backend is hidden from the backend list of release builds but can be selected by
-- name. Its "Unit-Test" instance name means "already configured" (no device dialog).
if AudioEngine:set_backend ("None (Dummy)", "Unit-Test", ""):isnil () then
	report ("fail", "cannot select the None (Dummy) backend")
	quit ()
	return
end
report ("backend", AudioEngine:current_backend_name ())

local s = create_session (session_dir, "lacquer", RATE)
if not s then
	report ("fail", "cannot create a session in " .. session_dir)
	quit ()
	return
end
report ("sample_rate", Session:nominal_sample_rate ())
report ("block_size", Session:get_block_size ())

local n_samples = math.floor (seconds * RATE)

-- Every file a bounce wrote, one line per channel: `LACQUER file <label> <channel> <path>`.
local function report_region (label, region)
	if region:isnil () then
		fail ("bounce '" .. label .. "' produced no region")
	end
	for c = 0, 1 do
		local src = region:source (c)
		if src:isnil () then
			fail ("bounce '" .. label .. "' has no channel " .. c)
		end
		report ("file", label .. " " .. c .. " " .. src:to_filesource ():path ())
	end
end

local function new_stereo_track (name)
	local tl = Session:new_audio_track (2, 2, nil, 1, name, ARDOUR.PresentationInfo.max_order,
		ARDOUR.TrackMode.Normal, false, false)
	if tl:size () ~= 1 then
		fail ("cannot create track " .. name)
	end
	return tl:front ()
end

-- 1. The input: render the test tone once to a file, so that every later render reads exactly
--    the same samples from disk at the same positions.
local src_track = new_stereo_track ("Source")
local tone = ARDOUR.LuaAPI.new_luaproc (Session, "Lacquer Test Tone")
if tone:isnil () then
	fail ("the Lua DSP script 'Lacquer Test Tone' is not installed")
end
if src_track:add_processor_by_index (tone, 0, nil, true) ~= 0 then
	fail ("cannot add the test tone")
end
-- Longer than the renders, so the region's fade-out (64 samples) lies outside them.
local input = src_track:bounce_range (0, n_samples + RATE, ARDOUR.InterThreadInfo (), tone, true, "input")
report_region ("input", input)

-- 2. The plugin, as Ardour's plugin manager knows it from the VST3 scan.
local info = ARDOUR.LuaAPI.new_plugin_info ("Lacquer", ARDOUR.PluginType.VST3)
if info:isnil () then
	fail ("Ardour does not list the Lacquer VST3 (was the scanner run on the bundle?)")
end
report ("plugin_unique_id", info.unique_id)
report ("plugin_path", info.path)
report ("plugin_category", info.category)
report ("plugin_creator", info.creator)

local fx_track = new_stereo_track ("Lacquer")
fx_track:playlist ():add_region (ARDOUR.RegionFactory.clone_region (input, true, false),
	Temporal.timepos_t (0), 1, false)

local insert = ARDOUR.LuaAPI.new_plugin (Session, "Lacquer", ARDOUR.PluginType.VST3, "")
if insert:isnil () then
	fail ("ARDOUR.LuaAPI.new_plugin could not instantiate the Lacquer VST3")
end
if fx_track:add_processor_by_index (insert, 0, nil, true) ~= 0 then
	fail ("cannot insert Lacquer on the track")
end
local pi = insert:to_insert ()
local plugin = pi:plugin (0)
report ("plugin_name", plugin:name ())
report ("plugin_maker", plugin:maker ())
report ("plugin_type", pi:type ())
report ("plugin_inputs", pi:input_streams ():n_audio ())
report ("plugin_outputs", pi:output_streams ():n_audio ())

-- Parameters as Ardour shows them: `LACQUER param <index> <name>`, index counted over the
-- control inputs (what ARDOUR.LuaAPI.set_processor_param takes).
local control_index = {}
local n_inputs = 0
for i = 0, plugin:parameter_count () - 1 do
	if plugin:parameter_is_control (i) and plugin:parameter_is_input (i) then
		local name = plugin:parameter_label (i)
		report ("param", n_inputs .. " " .. name)
		if control_index[name] == nil then
			control_index[name] = { n = n_inputs, id = i }
		end
		n_inputs = n_inputs + 1
	end
end
report ("param_count", plugin:parameter_count ())
report ("param_inputs", n_inputs)

local function param (name)
	local p = control_index[name]
	if p == nil then
		fail ("Ardour shows no parameter named '" .. name .. "'")
	end
	return p
end

-- Set a parameter given in plain units (dB, on/off) on a linear plain range [lo, hi]. Ardour
-- may describe a VST3 parameter in plain units or normalised 0..1; handle both.
local function set_plain (name, plain, lo, hi)
	local p = param (name)
	local _, t = plugin:get_parameter_descriptor (p.id, ARDOUR.ParameterDescriptor ())
	local d = t[2]
	local v = plain
	if math.abs ((d.upper - d.lower) - (hi - lo)) > 1e-3 then
		v = d.lower + (plain - lo) / (hi - lo) * (d.upper - d.lower)
	end
	if not ARDOUR.LuaAPI.set_processor_param (insert, p.n, v) then
		fail ("cannot set '" .. name .. "' to " .. v)
	end
	local readback = ARDOUR.LuaAPI.get_processor_param (insert, p.n, false)
	report ("set", name .. " plain=" .. plain .. " host_value=" .. v .. " readback=" .. readback
		.. " range=" .. d.lower .. ".." .. d.upper)
end

local function report_latency (when)
	report ("latency_" .. when, pi:signal_latency () .. " " .. fx_track:signal_latency ())
end

report_latency ("inserted")

local function render (label)
	local r = fx_track:bounce_range (0, n_samples, ARDOUR.InterThreadInfo (), insert, true, label)
	report_region (label, r)
	report_latency (label)
end

-- 3. The renders through the plugin. The output trim sits inside the chain, after the
--    limiter; both bypasses (the plugin's own and Ardour's) must skip it.
render ("default")                              -- factory settings

set_plain ("Output Trim", -6.0, -24.0, 0.0)     -- the last gain in the chain
render ("trim6")

set_plain ("Bypass", 1.0, 0.0, 1.0)             -- the plugin's own, latency-aligned bypass
render ("plugin_bypass")
set_plain ("Bypass", 0.0, 0.0, 1.0)

pi:deactivate ()                                -- Ardour's bypass: the plugin is not run
render ("host_bypass")
pi:activate ()

render ("trim6_again")                          -- processing again after re-activation

-- 4. Session state: save, close, load again; the plugin must come back with its settings.
Session:save_state ("", false, false, false, false, false)
local trim_n = param ("Output Trim").n
close_session ()
if not load_session (session_dir, "lacquer") then
	report ("fail", "cannot load the saved session again")
	quit ()
	return
end
local route = Session:route_by_name ("Lacquer")
local reloaded = route:isnil () and nil or route:nth_plugin (0)
if reloaded == nil or reloaded:isnil () then
	fail ("the reloaded session has no plugin on the Lacquer track")
end
report ("reloaded_plugin", reloaded:display_name ())
report ("reloaded_output_trim", ARDOUR.LuaAPI.get_processor_param (reloaded, trim_n, false))

report ("done", "ok")
close_session ()
quit ()
