/*
 * gaitcue wire protocol, version 1: packet encoder for sensor firmware.
 *
 * Plain C99 with no board dependency and no dynamic memory: every function writes into a
 * buffer the caller owns and checks its size first. The byte layout is the one of
 * firmware_bridge/PROTOCOL.md; tests/firmware_bridge/test_firmware_encoder.py compiles this
 * file with the host compiler and checks its bytes against the Python encoder.
 *
 * Packet: 14-byte header (version, kind, device_id, seq, t_device_us, n_samples,
 * n_channels), payload, CRC-16/CCITT-FALSE over both. All integers little-endian, written
 * byte by byte, so the code is correct whatever the CPU's byte order.
 *
 * Functions that write bytes return the number of bytes written (>= 0) or a negative
 * gc_error. On error nothing is promised about the output buffer's content, nothing is
 * written beyond out_cap, and the device's sequence counter does not advance.
 */
#ifndef GAITCUE_PROTOCOL_H
#define GAITCUE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_PROTOCOL_VERSION 1u
#define GC_HEADER_BYTES 14u
#define GC_CRC_BYTES 2u
#define GC_OVERHEAD_BYTES (GC_HEADER_BYTES + GC_CRC_BYTES)
/* Largest packet: ATT_MTU 247 - 3, so one packet always fits one BLE notification. */
#define GC_MAX_PACKET_BYTES 244u
#define GC_IMU_CHANNELS 6u
/* IMU counts per full-scale range: +-32768 counts mean +- the hello's full scale. */
#define GC_IMU_COUNTS_FULL_SCALE 32768.0
/* Longest COBS encoding of n bytes (delimiter not included). */
#define GC_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)
/* Buffer that holds any framed packet: COBS overhead plus the 0x00 delimiter. */
#define GC_MAX_FRAME_BYTES (GC_COBS_MAX_ENCODED(GC_MAX_PACKET_BYTES) + 1u)

/* Packet kinds (the protocol's `kind` byte; also the hello's device kind). */
typedef enum {
    GC_KIND_HELLO = 1,
    GC_KIND_IMU = 2,
    GC_KIND_INSOLE = 3,
    GC_KIND_STATUS = 4
} gc_kind;

typedef enum { GC_SIDE_LEFT = 0, GC_SIDE_RIGHT = 1, GC_SIDE_UNKNOWN = 2 } gc_side;

typedef enum { GC_MOUNT_FOOT = 0, GC_MOUNT_SHANK = 1, GC_MOUNT_INSOLE = 2 } gc_mount;

/* Bits of the status packet's flags byte. */
#define GC_STATUS_CHARGING 0x01u
#define GC_STATUS_LOW_BATTERY 0x02u
#define GC_STATUS_SENSOR_FAULT 0x04u
#define GC_STATUS_BUFFER_OVERFLOW 0x08u
#define GC_BATTERY_UNKNOWN 255u

typedef enum {
    GC_OK = 0,
    GC_ERR_NULL = -1,        /* a required pointer is NULL */
    GC_ERR_ARGUMENT = -2,    /* a count or kind is out of range */
    GC_ERR_PACKET_SIZE = -3, /* the packet would exceed max_packet_bytes */
    GC_ERR_BUFFER = -4       /* the output buffer is too small */
} gc_error;

/* One device on the wire: its id and the sequence number of its next packet. The encoders
 * advance next_seq by one (wrapping at 65536) after every packet they write, whatever its
 * kind, as the protocol requires. A board that streams two kinds (IMU and insole) is two
 * devices with two ids. */
typedef struct {
    uint32_t device_id;
    uint16_t next_seq;
} gc_device;

/* What a hello packet says. IMU devices fill the two full scales; insole devices fill
 * newtons_per_count, n_cells and cell_area_centi_cm2 (n_cells areas in units of 0.01 cm2). */
typedef struct {
    uint8_t device_kind; /* GC_KIND_IMU or GC_KIND_INSOLE */
    uint8_t side;        /* gc_side */
    uint8_t mount;       /* gc_mount */
    uint8_t firmware_version;
    uint16_t boot_id; /* random at every boot */
    uint16_t rate_hz; /* nominal sample rate */
    uint8_t max_samples_per_packet;
    uint16_t accel_full_scale_g;
    uint16_t gyro_full_scale_dps;
    float newtons_per_count;
    uint8_t n_cells;
    const uint16_t *cell_area_centi_cm2;
} gc_hello;

typedef struct {
    uint8_t battery_pct; /* 0-100, GC_BATTERY_UNKNOWN when unknown */
    uint8_t flags;       /* GC_STATUS_* bits */
    uint16_t boot_id;
} gc_status;

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR). */
uint16_t gc_crc16(const uint8_t *data, size_t len);
/* Continue a CRC over more bytes; start with crc = 0xFFFF. */
uint16_t gc_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

/* IMU data packet: n_samples (1-255) rows of 6 counts, ax ay az gx gy gz, sample-major. */
int32_t gc_encode_imu(gc_device *device, uint32_t t_device_us, const int16_t *samples,
                      size_t n_samples, size_t max_packet_bytes, uint8_t *out, size_t out_cap);

/* Insole data packet: n_samples (1-255) rows of n_cells (1-255) counts, sample-major. */
int32_t gc_encode_insole(gc_device *device, uint32_t t_device_us, const uint16_t *samples,
                         size_t n_samples, size_t n_cells, size_t max_packet_bytes,
                         uint8_t *out, size_t out_cap);

/* Hello packet; t_device_us is the send time. */
int32_t gc_encode_hello(gc_device *device, uint32_t t_device_us, const gc_hello *hello,
                        size_t max_packet_bytes, uint8_t *out, size_t out_cap);

/* Status packet; t_device_us is the send time. */
int32_t gc_encode_status(gc_device *device, uint32_t t_device_us, const gc_status *status,
                         size_t max_packet_bytes, uint8_t *out, size_t out_cap);

/* COBS-encode len bytes (the result holds no 0x00; no delimiter appended). */
int32_t gc_cobs_encode(const uint8_t *data, size_t len, uint8_t *out, size_t out_cap);

/* A packet ready for a serial line: COBS-encoded, then the 0x00 delimiter. */
int32_t gc_frame(const uint8_t *packet, size_t len, uint8_t *out, size_t out_cap);

/* Physical value -> IMU count: value * 32768 / full_scale, rounded to the nearest integer
 * (halves to even) and saturated to -32768..32767. full_scale in the unit of value (g or
 * deg/s), > 0. NaN gives 0. The same arithmetic as the simulated devices, in double. */
int16_t gc_imu_count(double value, double full_scale);

/* Force (N) -> insole count: force_n / newtons_per_count, rounded to the nearest integer
 * (halves to even) and saturated to 0..65535. newtons_per_count > 0. NaN gives 0. */
uint16_t gc_insole_count(double force_n, double newtons_per_count);

/* How many samples of n_channels 16-bit values fit a packet of max_packet_bytes. */
size_t gc_max_samples_per_packet(size_t n_channels, size_t max_packet_bytes);

#ifdef __cplusplus
}
#endif

#endif /* GAITCUE_PROTOCOL_H */
