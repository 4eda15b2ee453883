ardour {
	["type"]    = "dsp",
	name        = "Lacquer Test Tone",
	category    = "Utility",
	license     = "GPL-3.0-or-later",
	author      = "The Lacquer developers",
	description = [[Test signal for tests/tests/vst3_ardour.rs: replaces its stereo input with
a 997 Hz sine (left) and a 1499 Hz sine (right), both at amplitude 0.1 (-20 dBFS peak).]]
}

-- Keep in step with AMPLITUDE / FREQ_L / FREQ_R in tests/tests/vst3_ardour.rs.
local AMPLITUDE = 0.1
local FREQ = { 997, 1499 }

function dsp_ioconfig ()
	return { { audio_in = 2, audio_out = 2 } }
end

local rate = 48000
local pos = 0

function dsp_init (r)
	rate = r
end

function dsp_run (ins, outs, n_samples)
	for c = 1, #outs do
		local w = 2 * math.pi * FREQ[c] / rate
		local o = outs[c]:array ()
		for s = 1, n_samples do
			o[s] = AMPLITUDE * math.sin (w * (pos + s - 1))
		end
	end
	pos = pos + n_samples
end
