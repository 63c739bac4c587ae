// Tests start their private Mosquitto through the benchmark's helper (one implementation).
export * from '../../bench/mosquitto.js';
