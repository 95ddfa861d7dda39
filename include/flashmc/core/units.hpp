#pragma once
// Physical constants (CODATA 2018, exact SI values) and unit helpers.
namespace flashmc::units {

inline constexpr double boltzmann_j_per_k = 1.380649e-23;
inline constexpr double elementary_charge_c = 1.602176634e-19;
inline constexpr double boltzmann_ev_per_k = boltzmann_j_per_k / elementary_charge_c;  // 8.617e-5
inline constexpr double zero_celsius_k = 273.15;

constexpr double kelvin(double temperature_c) { return temperature_c + zero_celsius_k; }
// Thermal voltage V_T = kT/q.
constexpr double thermal_voltage_v(double temperature_c) {
    return boltzmann_ev_per_k * kelvin(temperature_c);
}

inline constexpr double seconds_per_hour = 3600.0;
inline constexpr double seconds_per_year = 365.25 * 24 * 3600.0;

}  // namespace flashmc::units
