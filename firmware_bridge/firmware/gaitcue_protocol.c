/*
 * gaitcue wire protocol, version 1: packet encoder. See gaitcue_protocol.h.
 */
#include "gaitcue_protocol.h"

#include <string.h>

/* The hello carries newtons_per_count as an IEEE-754 binary32; refuse to build elsewhere. */
typedef char gc_float_must_be_32_bits[(sizeof(float) == 4u) ? 1 : -1];

#define GC_MAX_COUNT 255u
#define GC_COBS_MAX_RUN 254u
#define GC_HELLO_COMMON_BYTES 9u
#define GC_HELLO_IMU_BYTES 4u
#define GC_HELLO_INSOLE_BYTES 5u
#define GC_STATUS_BYTES 4u

/* ------------------------------------------------------------------ byte writing */

static void put_u8(uint8_t *out, size_t *pos, uint8_t value) {
    out[*pos] = value;
    *pos += 1u;
}

static void put_u16le(uint8_t *out, size_t *pos, uint16_t value) {
    out[*pos] = (uint8_t)(value & 0xFFu);
    out[*pos + 1u] = (uint8_t)((value >> 8) & 0xFFu);
    *pos += 2u;
}

static void put_u32le(uint8_t *out, size_t *pos, uint32_t value) {
    out[*pos] = (uint8_t)(value & 0xFFu);
    out[*pos + 1u] = (uint8_t)((value >> 8) & 0xFFu);
    out[*pos + 2u] = (uint8_t)((value >> 16) & 0xFFu);
    out[*pos + 3u] = (uint8_t)((value >> 24) & 0xFFu);
    *pos += 4u;
}

static void put_f32le(uint8_t *out, size_t *pos, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_u32le(out, pos, bits);
}

/* ------------------------------------------------------------------ CRC */

uint16_t gc_crc16_update(uint16_t crc, const uint8_t *data, size_t len) {
    size_t i;
    unsigned bit;
    if (data == NULL) {
        return crc;
    }
    for (i = 0; i < len; ++i) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        for (bit = 0; bit < 8u; ++bit) {
            if ((crc & 0x8000u) != 0u) {
                crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

uint16_t gc_crc16(const uint8_t *data, size_t len) {
    return gc_crc16_update(0xFFFFu, data, len);
}

/* ------------------------------------------------------------------ packets */

/* Check that a packet of payload_bytes fits both limits; the packet's total size or an
 * error. */
static int32_t packet_size(size_t payload_bytes, size_t max_packet_bytes, size_t out_cap) {
    size_t size;
    if (payload_bytes > (size_t)INT32_MAX - GC_OVERHEAD_BYTES) {
        return GC_ERR_PACKET_SIZE;
    }
    size = GC_OVERHEAD_BYTES + payload_bytes;
    if (size > max_packet_bytes) {
        return GC_ERR_PACKET_SIZE;
    }
    if (size > out_cap) {
        return GC_ERR_BUFFER;
    }
    return (int32_t)size;
}

static void put_header(uint8_t *out, size_t *pos, gc_kind kind, const gc_device *device,
                       uint32_t t_device_us, uint8_t n_samples, uint8_t n_channels) {
    put_u8(out, pos, (uint8_t)GC_PROTOCOL_VERSION);
    put_u8(out, pos, (uint8_t)kind);
    put_u32le(out, pos, device->device_id);
    put_u16le(out, pos, device->next_seq);
    put_u32le(out, pos, t_device_us);
    put_u8(out, pos, n_samples);
    put_u8(out, pos, n_channels);
}

/* Append the CRC, advance the device's sequence number, return the packet length. */
static int32_t finish(gc_device *device, uint8_t *out, size_t pos) {
    uint16_t crc = gc_crc16(out, pos);
    put_u16le(out, &pos, crc);
    device->next_seq = (uint16_t)(device->next_seq + 1u);
    return (int32_t)pos;
}

int32_t gc_encode_imu(gc_device *device, uint32_t t_device_us, const int16_t *samples,
                      size_t n_samples, size_t max_packet_bytes, uint8_t *out, size_t out_cap) {
    size_t pos = 0;
    size_t i;
    size_t n_values;
    int32_t size;
    if (device == NULL || samples == NULL || out == NULL) {
        return GC_ERR_NULL;
    }
    if (n_samples == 0u || n_samples > GC_MAX_COUNT) {
        return GC_ERR_ARGUMENT;
    }
    n_values = n_samples * GC_IMU_CHANNELS;
    size = packet_size(2u * n_values, max_packet_bytes, out_cap);
    if (size < 0) {
        return size;
    }
    put_header(out, &pos, GC_KIND_IMU, device, t_device_us, (uint8_t)n_samples,
               (uint8_t)GC_IMU_CHANNELS);
    for (i = 0; i < n_values; ++i) {
        /* int16 -> uint16 is defined (modulo 2^16): the two's-complement bit pattern. */
        put_u16le(out, &pos, (uint16_t)samples[i]);
    }
    return finish(device, out, pos);
}

int32_t gc_encode_insole(gc_device *device, uint32_t t_device_us, const uint16_t *samples,
                         size_t n_samples, size_t n_cells, size_t max_packet_bytes,
                         uint8_t *out, size_t out_cap) {
    size_t pos = 0;
    size_t i;
    size_t n_values;
    int32_t size;
    if (device == NULL || samples == NULL || out == NULL) {
        return GC_ERR_NULL;
    }
    if (n_samples == 0u || n_samples > GC_MAX_COUNT || n_cells == 0u || n_cells > GC_MAX_COUNT) {
        return GC_ERR_ARGUMENT;
    }
    n_values = n_samples * n_cells;
    size = packet_size(2u * n_values, max_packet_bytes, out_cap);
    if (size < 0) {
        return size;
    }
    put_header(out, &pos, GC_KIND_INSOLE, device, t_device_us, (uint8_t)n_samples,
               (uint8_t)n_cells);
    for (i = 0; i < n_values; ++i) {
        put_u16le(out, &pos, samples[i]);
    }
    return finish(device, out, pos);
}

int32_t gc_encode_hello(gc_device *device, uint32_t t_device_us, const gc_hello *hello,
                        size_t max_packet_bytes, uint8_t *out, size_t out_cap) {
    size_t pos = 0;
    size_t payload;
    size_t i;
    int32_t size;
    if (device == NULL || hello == NULL || out == NULL) {
        return GC_ERR_NULL;
    }
    if (hello->device_kind == (uint8_t)GC_KIND_IMU) {
        payload = GC_HELLO_COMMON_BYTES + GC_HELLO_IMU_BYTES;
    } else if (hello->device_kind == (uint8_t)GC_KIND_INSOLE) {
        if (hello->n_cells == 0u) {
            return GC_ERR_ARGUMENT;
        }
        if (hello->cell_area_centi_cm2 == NULL) {
            return GC_ERR_NULL;
        }
        payload = GC_HELLO_COMMON_BYTES + GC_HELLO_INSOLE_BYTES + 2u * (size_t)hello->n_cells;
    } else {
        return GC_ERR_ARGUMENT;
    }
    size = packet_size(payload, max_packet_bytes, out_cap);
    if (size < 0) {
        return size;
    }
    put_header(out, &pos, GC_KIND_HELLO, device, t_device_us, 0u, 0u);
    put_u8(out, &pos, hello->device_kind);
    put_u8(out, &pos, hello->side);
    put_u8(out, &pos, hello->mount);
    put_u8(out, &pos, hello->firmware_version);
    put_u16le(out, &pos, hello->boot_id);
    put_u16le(out, &pos, hello->rate_hz);
    put_u8(out, &pos, hello->max_samples_per_packet);
    if (hello->device_kind == (uint8_t)GC_KIND_IMU) {
        put_u16le(out, &pos, hello->accel_full_scale_g);
        put_u16le(out, &pos, hello->gyro_full_scale_dps);
    } else {
        put_u8(out, &pos, hello->n_cells);
        put_f32le(out, &pos, hello->newtons_per_count);
        for (i = 0; i < (size_t)hello->n_cells; ++i) {
            put_u16le(out, &pos, hello->cell_area_centi_cm2[i]);
        }
    }
    return finish(device, out, pos);
}

int32_t gc_encode_status(gc_device *device, uint32_t t_device_us, const gc_status *status,
                         size_t max_packet_bytes, uint8_t *out, size_t out_cap) {
    size_t pos = 0;
    int32_t size;
    if (device == NULL || status == NULL || out == NULL) {
        return GC_ERR_NULL;
    }
    size = packet_size(GC_STATUS_BYTES, max_packet_bytes, out_cap);
    if (size < 0) {
        return size;
    }
    put_header(out, &pos, GC_KIND_STATUS, device, t_device_us, 0u, 0u);
    put_u8(out, &pos, status->battery_pct);
    put_u8(out, &pos, status->flags);
    put_u16le(out, &pos, status->boot_id);
    return finish(device, out, pos);
}

size_t gc_max_samples_per_packet(size_t n_channels, size_t max_packet_bytes) {
    if (n_channels == 0u || max_packet_bytes <= GC_OVERHEAD_BYTES) {
        return 0u;
    }
    return (max_packet_bytes - GC_OVERHEAD_BYTES) / (2u * n_channels);
}

/* ------------------------------------------------------------------ COBS framing */

int32_t gc_cobs_encode(const uint8_t *data, size_t len, uint8_t *out, size_t out_cap) {
    size_t code_at = 0; /* where the current run's code byte goes */
    size_t pos = 1;     /* next data byte */
    uint8_t code = 1;   /* run length + 1 */
    size_t i;
    if ((data == NULL && len > 0u) || out == NULL) {
        return GC_ERR_NULL;
    }
    if (len > (size_t)INT32_MAX / 2u) {
        return GC_ERR_ARGUMENT;
    }
    if (out_cap < 1u) {
        return GC_ERR_BUFFER;
    }
    for (i = 0; i < len; ++i) {
        if (data[i] == 0u) {
            out[code_at] = code;
            code_at = pos;
            if (pos >= out_cap) {
                return GC_ERR_BUFFER;
            }
            pos += 1u;
            code = 1;
            continue;
        }
        if (pos >= out_cap) {
            return GC_ERR_BUFFER;
        }
        out[pos] = data[i];
        pos += 1u;
        code = (uint8_t)(code + 1u);
        if (code == (uint8_t)(GC_COBS_MAX_RUN + 1u)) {
            /* A full run of 254 bytes: its code 0xFF implies no zero after it. */
            out[code_at] = code;
            code_at = pos;
            if (pos >= out_cap) {
                return GC_ERR_BUFFER;
            }
            pos += 1u;
            code = 1;
        }
    }
    out[code_at] = code;
    return (int32_t)pos;
}

int32_t gc_frame(const uint8_t *packet, size_t len, uint8_t *out, size_t out_cap) {
    int32_t n;
    if (out == NULL) {
        return GC_ERR_NULL;
    }
    if (out_cap < 1u) {
        return GC_ERR_BUFFER;
    }
    n = gc_cobs_encode(packet, len, out, out_cap - 1u);
    if (n < 0) {
        return n;
    }
    out[n] = 0u;
    return n + 1;
}

/* ------------------------------------------------------------------ scaling */

/* Round to the nearest integer, halves to even, saturated to lo..hi. Does not depend on
 * the floating-point rounding mode or on libm. */
static int32_t round_saturate(double x, int32_t lo, int32_t hi) {
    int32_t whole;
    double frac;
    if (x >= (double)hi) {
        return hi;
    }
    if (x <= (double)lo) {
        return lo;
    }
    if (!(x > (double)lo && x < (double)hi)) {
        return 0; /* NaN */
    }
    whole = (int32_t)x; /* truncates toward zero; in range here */
    if ((double)whole > x) {
        whole -= 1; /* floor for negative non-integers */
    }
    frac = x - (double)whole; /* exact: 0 <= frac < 1 */
    if (frac > 0.5 || (!(frac < 0.5) && (whole % 2) != 0)) {
        whole += 1; /* above a half, or exactly a half with an odd floor */
    }
    return whole > hi ? hi : whole;
}

int16_t gc_imu_count(double value, double full_scale) {
    return (int16_t)round_saturate(value * (GC_IMU_COUNTS_FULL_SCALE / full_scale), -32768,
                                   32767);
}

uint16_t gc_insole_count(double force_n, double newtons_per_count) {
    return (uint16_t)round_saturate(force_n / newtons_per_count, 0, 65535);
}
