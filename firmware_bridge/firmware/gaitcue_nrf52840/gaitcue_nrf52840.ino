/*
 * gaitcue reference firmware: Adafruit Feather nRF52840 Express, an LSM6DSO32 IMU on I2C
 * and 8 force-sensitive resistors through a 74HC4051 multiplexer into one ADC input.
 *
 * Streams two protocol devices over USB serial (COBS frames) and BLE notifications:
 *   - an IMU device at 1 kHz, 10 samples (10 ms) per packet, +-32 g and +-2000 deg/s;
 *   - an insole device at 200 Hz, 8 cells, 2 samples (10 ms) per packet.
 * Both share one microsecond device clock (TIMER4, from the 32 MHz crystal): every sample
 * is taken when the clock reaches its slot, t0 + k * period, and a packet carries the slot
 * time of its first sample, so samples are spaced by exactly the nominal period on the
 * device clock, as firmware_bridge/PROTOCOL.md requires.
 *
 * Tasks: a sampler task (high priority) woken by a TIMER4 compare reads the sensors, builds
 * every packet (data, hello, status) with gaitcue_protocol.c and queues it; loop() sends
 * queued packets to USB and BLE. USB drops a frame the host does not read in time; a BLE
 * notification waits for a free SoftDevice buffer while the queue (about 240 ms of packets)
 * absorbs the stall. A queue that overflows drops packets on both links (the host counts
 * them lost) and sets the status packet's buffer-overflow flag. The sampler never waits.
 *
 * Board wiring, libraries and build commands: ../README.md. Not compiled in CI.
 */
#include <Arduino.h>
#include <Adafruit_TinyUSB.h>
#include <Wire.h>
#include <bluefruit.h>
#include <nrf_soc.h>

#include "gaitcue_ble.h"
#include "gaitcue_protocol.h"

/* =========================== configuration =========================== */
#define FIRMWARE_VERSION 1u
#define WEAR_SIDE GC_SIDE_LEFT /* GC_SIDE_LEFT or GC_SIDE_RIGHT */
#define IMU_MOUNT GC_MOUNT_FOOT

#define IMU_RATE_HZ 1000u
#define INSOLE_RATE_HZ 200u
#define PACKET_SPAN_US 10000u /* at most 10 ms of data per packet */
#define IMU_PERIOD_US (1000000u / IMU_RATE_HZ)
#define INSOLE_PERIOD_US (1000000u / INSOLE_RATE_HZ)
#define IMU_SAMPLES_PER_PACKET (PACKET_SPAN_US / IMU_PERIOD_US)       /* 10 */
#define INSOLE_SAMPLES_PER_PACKET (PACKET_SPAN_US / INSOLE_PERIOD_US) /* 2 */
/* A sample read later than this after its slot is not attributed to the slot: the packet
 * it belongs to is dropped (its sequence number skipped, so the host marks a gap). */
#define IMU_LATE_LIMIT_US IMU_PERIOD_US
#define INSOLE_LATE_LIMIT_US (INSOLE_PERIOD_US / 2u)
#define HELLO_EVERY_US 2000000u
#define STATUS_EVERY_US 1000000u

/* IMU: LSM6DSO32 on the STEMMA QT / I2C bus, address 0x6A (0x6B with its DO pin high). */
#define IMU_I2C_ADDRESS 0x6Au
#define ACCEL_FULL_SCALE_G 32u
#define GYRO_FULL_SCALE_DPS 2000u
#define ACCEL_G_PER_LSB (32.0 / 32768.0) /* datasheet: 0.976 mg/LSB at +-32 g */
#define GYRO_DPS_PER_LSB 0.070           /* datasheet: 70 mdps/LSB at +-2000 dps */
/* Sensor axes -> protocol axes (x anterior, y left, z up with the runner standing). The
 * identity fits the breakout flat on the instep, component side up, its x arrow to the
 * toes. Use a proper rotation (an even number of sign flips for a swap-free map). */
static const uint8_t AXIS_FROM[3] = {0, 1, 2};
static const int8_t AXIS_SIGN[3] = {+1, +1, +1};

/* Insole: 8 FSRs (Interlink FSR 402), each from 3V3 to a mux input with a 10 kohm
 * resistor from that input to GND; mux common -> A0; select lines S0..S2 below. Cells in
 * the order of the host's default 8-cell layout (calibration/insole_layout.py): medial
 * heel, lateral heel, lateral midfoot, 1st metatarsal head, 2nd/3rd, 5th, hallux, toes. */
#define N_CELLS 8u
#define FSR_ADC_PIN A0
static const uint8_t MUX_SELECT_PINS[3] = {5, 6, 9};
#define FSR_PULLDOWN_OHM 10000.0
#define FSR_NEWTONS_PER_MICROSIEMENS 0.1 /* rough FSR 402 fit; calibrate per cell */
#define NEWTONS_PER_COUNT 0.25f
static const uint16_t CELL_AREA_CENTI_CM2[N_CELLS] = {127, 127, 127, 127,
                                                      127, 127, 127, 127}; /* 1.27 cm2 */
#define ADC_MAX 4095u

/* Battery: the Feather's VBAT divider (1/2) on PIN_VBAT. */
#define BATTERY_LOW_MV 3450u

#define PACKET_QUEUE_DEPTH 48u
/* ==================================================================== */

typedef struct {
    uint16_t len;
    uint8_t bytes[GC_MAX_PACKET_BYTES];
} QueuedPacket;

typedef struct {
    gc_device dev;
    uint32_t period_us;
    uint32_t late_limit_us;
    uint8_t samples_per_packet;
    uint32_t t0_us; /* slot of sample 0 */
    uint32_t k;     /* next sample index */
    uint8_t fill;   /* samples in the packet being built */
} SampleStream;

static SampleStream imu_stream;
static SampleStream insole_stream;
static int16_t imu_buffer[IMU_SAMPLES_PER_PACKET * GC_IMU_CHANNELS];
static uint16_t insole_buffer[INSOLE_SAMPLES_PER_PACKET * N_CELLS];
static int16_t last_imu_sample[GC_IMU_CHANNELS];

static uint16_t boot_id;
static uint32_t next_hello_us;
static uint32_t next_status_us;
static uint8_t battery_pct = GC_BATTERY_UNKNOWN;
static uint8_t status_flags; /* sticky until the next status packet */

static QueueHandle_t packet_queue;
static TaskHandle_t sampler_handle;

/* Set from the BLE task, read by the sampler and loop(). */
static volatile bool ble_streaming;
static volatile bool hello_requested;
static volatile uint16_t ble_conn_handle = BLE_CONN_HANDLE_INVALID;

/* BLEUuid keeps a pointer to these bytes: they must outlive the service. */
static const uint8_t SERVICE_UUID[16] = GC_BLE_SERVICE_UUID_LSB_FIRST;
static const uint8_t DATA_CHAR_UUID[16] = GC_BLE_DATA_CHAR_UUID_LSB_FIRST;
static const uint8_t CONTROL_CHAR_UUID[16] = GC_BLE_CONTROL_CHAR_UUID_LSB_FIRST;
static BLEService gaitcue_service(SERVICE_UUID);
static BLECharacteristic data_char(DATA_CHAR_UUID);
static BLECharacteristic control_char(CONTROL_CHAR_UUID);
static BLEBas battery_service;

/* ------------------------------------------------------------ device clock (µs) */

static void device_clock_start(void) {
    NRF_TIMER4->TASKS_STOP = 1;
    NRF_TIMER4->MODE = TIMER_MODE_MODE_Timer;
    NRF_TIMER4->BITMODE = TIMER_BITMODE_BITMODE_32Bit;
    NRF_TIMER4->PRESCALER = 4; /* 16 MHz / 2^4 = 1 MHz: wraps every 2^32 µs like the wire */
    NRF_TIMER4->TASKS_CLEAR = 1;
    NRF_TIMER4->CC[1] = 0xFFFFFFFFu; /* no wake-up until the sampler arms one */
    NRF_TIMER4->EVENTS_COMPARE[1] = 0;
    NRF_TIMER4->INTENSET = TIMER_INTENSET_COMPARE1_Msk;
    NVIC_SetPriority(TIMER4_IRQn, 3); /* an application level the SoftDevice leaves free */
    NVIC_ClearPendingIRQ(TIMER4_IRQn);
    NVIC_EnableIRQ(TIMER4_IRQn);
    NRF_TIMER4->TASKS_START = 1;
}

/* Once the sampler runs, only it reads the clock (CC[0] is its capture register). */
static uint32_t device_us(void) {
    NRF_TIMER4->TASKS_CAPTURE[0] = 1;
    return NRF_TIMER4->CC[0];
}

static bool reached(uint32_t now_us, uint32_t t_us) {
    return (int32_t)(now_us - t_us) >= 0;
}

extern "C" void TIMER4_IRQHandler(void) {
    if (NRF_TIMER4->EVENTS_COMPARE[1]) {
        NRF_TIMER4->EVENTS_COMPARE[1] = 0;
        (void)NRF_TIMER4->EVENTS_COMPARE[1]; /* flush the write before returning */
        if (sampler_handle != NULL) {
            BaseType_t woken = pdFALSE;
            vTaskNotifyGiveFromISR(sampler_handle, &woken);
            portYIELD_FROM_ISR(woken);
        }
    }
}

/* ------------------------------------------------------------ sensors */

static bool imu_write(uint8_t reg, uint8_t value) {
    Wire.beginTransmission(IMU_I2C_ADDRESS);
    Wire.write(reg);
    Wire.write(value);
    return Wire.endTransmission() == 0;
}

static bool imu_read(uint8_t reg, uint8_t *out, uint8_t n) {
    Wire.beginTransmission(IMU_I2C_ADDRESS);
    Wire.write(reg);
    if (Wire.endTransmission(false) != 0) {
        return false;
    }
    if (Wire.requestFrom((uint8_t)IMU_I2C_ADDRESS, n) != n) {
        return false;
    }
    for (uint8_t i = 0; i < n; ++i) {
        out[i] = (uint8_t)Wire.read();
    }
    return true;
}

static bool imu_begin(void) {
    uint8_t who = 0;
    Wire.begin();
    Wire.setClock(400000);
    if (!imu_read(0x0F, &who, 1) || who != 0x6C) { /* WHO_AM_I of the LSM6DSO32 */
        return false;
    }
    imu_write(0x12, 0x01); /* CTRL3_C: software reset */
    delay(10);
    return imu_write(0x12, 0x44)     /* CTRL3_C: block data update, address auto-increment */
           && imu_write(0x10, 0x84)  /* CTRL1_XL: 1.66 kHz, +-32 g */
           && imu_write(0x11, 0x8C); /* CTRL2_G: 1.66 kHz, +-2000 dps */
}

/* One IMU sample in protocol counts and axes; false (and the previous sample) on a bus
 * error. The IMU runs at 1.66 kHz: the registers hold a sample at most 0.6 ms old. */
static bool imu_sample(int16_t *out) {
    uint8_t raw[12]; /* OUTX_L_G .. OUTZ_H_A: gx gy gz ax ay az */
    if (!imu_read(0x22, raw, sizeof raw)) {
        memcpy(out, last_imu_sample, sizeof last_imu_sample);
        return false;
    }
    int16_t sensor[6];
    for (uint8_t i = 0; i < 6; ++i) {
        sensor[i] = (int16_t)((uint16_t)raw[2 * i] | ((uint16_t)raw[2 * i + 1] << 8));
    }
    for (uint8_t axis = 0; axis < 3; ++axis) {
        double acc_g = AXIS_SIGN[axis] * sensor[3 + AXIS_FROM[axis]] * ACCEL_G_PER_LSB;
        double gyr_dps = AXIS_SIGN[axis] * sensor[AXIS_FROM[axis]] * GYRO_DPS_PER_LSB;
        out[axis] = gc_imu_count(acc_g, ACCEL_FULL_SCALE_G);
        out[3 + axis] = gc_imu_count(gyr_dps, GYRO_FULL_SCALE_DPS);
    }
    memcpy(last_imu_sample, out, sizeof last_imu_sample);
    return true;
}

static void insole_sample(uint16_t *out) {
    for (uint8_t cell = 0; cell < N_CELLS; ++cell) {
        for (uint8_t bit = 0; bit < 3; ++bit) {
            digitalWrite(MUX_SELECT_PINS[bit], (cell >> bit) & 1u);
        }
        delayMicroseconds(5); /* mux switching and input settling */
        uint32_t raw = (uint32_t)analogRead(FSR_ADC_PIN);
        if (raw > ADC_MAX - 1u) {
            raw = ADC_MAX - 1u;
        }
        /* Divider: raw / ADC_MAX = R_pulldown / (R_pulldown + R_fsr). */
        double microsiemens = 1e6 * raw / (FSR_PULLDOWN_OHM * (double)(ADC_MAX - raw));
        out[cell] = gc_insole_count(microsiemens * FSR_NEWTONS_PER_MICROSIEMENS,
                                    NEWTONS_PER_COUNT);
    }
}

static void read_battery(void) {
    analogReference(AR_INTERNAL_3_0);
    analogRead(PIN_VBAT); /* first conversion after a reference change settles the input */
    uint32_t mv = (uint32_t)analogRead(PIN_VBAT) * 3000u * 2u / 4096u;
    analogReference(AR_VDD4); /* back to ratiometric for the FSR dividers */
    /* LiPo, roughly linear from 3.5 V (≈10 %) to 4.1 V (≈100 %). */
    int32_t pct = mv >= 4100u ? 100 : mv <= 3300u ? 0 : (int32_t)(mv - 3300u) / 8;
    battery_pct = (uint8_t)(pct > 100 ? 100 : pct);
    if (mv < BATTERY_LOW_MV) {
        status_flags |= GC_STATUS_LOW_BATTERY;
    }
}

/* ------------------------------------------------------------ packets */

static void queue_packet(const uint8_t *bytes, int32_t len) {
    if (len <= 0) {
        return; /* encoder error: cannot happen with the fixed sizes here */
    }
    QueuedPacket item;
    item.len = (uint16_t)len;
    memcpy(item.bytes, bytes, (size_t)len);
    if (xQueueSend(packet_queue, &item, 0) != pdTRUE) {
        status_flags |= GC_STATUS_BUFFER_OVERFLOW;
    }
}

static void send_hello(SampleStream *s, uint32_t now_us) {
    uint8_t out[GC_MAX_PACKET_BYTES];
    gc_hello hello;
    memset(&hello, 0, sizeof hello);
    hello.firmware_version = FIRMWARE_VERSION;
    hello.boot_id = boot_id;
    hello.side = WEAR_SIDE;
    if (s == &imu_stream) {
        hello.device_kind = GC_KIND_IMU;
        hello.mount = IMU_MOUNT;
        hello.rate_hz = IMU_RATE_HZ;
        hello.max_samples_per_packet = IMU_SAMPLES_PER_PACKET;
        hello.accel_full_scale_g = ACCEL_FULL_SCALE_G;
        hello.gyro_full_scale_dps = GYRO_FULL_SCALE_DPS;
    } else {
        hello.device_kind = GC_KIND_INSOLE;
        hello.mount = GC_MOUNT_INSOLE;
        hello.rate_hz = INSOLE_RATE_HZ;
        hello.max_samples_per_packet = INSOLE_SAMPLES_PER_PACKET;
        hello.newtons_per_count = NEWTONS_PER_COUNT;
        hello.n_cells = N_CELLS;
        hello.cell_area_centi_cm2 = CELL_AREA_CENTI_CM2;
    }
    queue_packet(out, gc_encode_hello(&s->dev, now_us, &hello, GC_MAX_PACKET_BYTES, out,
                                      sizeof out));
}

static void send_status(SampleStream *s, uint32_t now_us, uint8_t flags) {
    uint8_t out[GC_MAX_PACKET_BYTES];
    gc_status status = {battery_pct, flags, boot_id};
    queue_packet(out, gc_encode_status(&s->dev, now_us, &status, GC_MAX_PACKET_BYTES, out,
                                       sizeof out));
}

static uint32_t slot_us(const SampleStream *s, uint32_t k) {
    return s->t0_us + k * s->period_us; /* modulo 2^32, like the wire's clock */
}

/* Skip from a sample read too late to the next packet boundary: the packet being built
 * and any whole packets missed are dropped, and their sequence numbers skipped, as if sent
 * and lost, so the host marks the gap. */
static void skip_late(SampleStream *s, uint32_t now_us) {
    uint32_t spp = s->samples_per_packet;
    uint32_t due = s->k + (now_us - slot_us(s, s->k)) / s->period_us;
    uint32_t first = s->k - s->fill;
    uint32_t resume = (due / spp + 1u) * spp;
    s->dev.next_seq = (uint16_t)(s->dev.next_seq + (resume - first) / spp);
    s->k = resume;
    s->fill = 0;
    status_flags |= GC_STATUS_BUFFER_OVERFLOW;
}

static void service_imu(uint32_t now_us) {
    SampleStream *s = &imu_stream;
    while (reached(now_us, slot_us(s, s->k))) {
        if (now_us - slot_us(s, s->k) > s->late_limit_us) {
            skip_late(s, now_us);
            continue;
        }
        if (!imu_sample(&imu_buffer[s->fill * GC_IMU_CHANNELS])) {
            status_flags |= GC_STATUS_SENSOR_FAULT;
        }
        s->k += 1u;
        s->fill += 1u;
        if (s->fill == s->samples_per_packet) {
            uint8_t out[GC_MAX_PACKET_BYTES];
            uint32_t t_first = slot_us(s, s->k - s->fill);
            queue_packet(out, gc_encode_imu(&s->dev, t_first, imu_buffer, s->fill,
                                            GC_MAX_PACKET_BYTES, out, sizeof out));
            s->fill = 0;
        }
        now_us = device_us();
    }
}

static void service_insole(uint32_t now_us) {
    SampleStream *s = &insole_stream;
    while (reached(now_us, slot_us(s, s->k))) {
        if (now_us - slot_us(s, s->k) > s->late_limit_us) {
            skip_late(s, now_us);
            continue;
        }
        insole_sample(&insole_buffer[s->fill * N_CELLS]);
        s->k += 1u;
        s->fill += 1u;
        if (s->fill == s->samples_per_packet) {
            uint8_t out[GC_MAX_PACKET_BYTES];
            uint32_t t_first = slot_us(s, s->k - s->fill);
            queue_packet(out, gc_encode_insole(&s->dev, t_first, insole_buffer, s->fill,
                                               N_CELLS, GC_MAX_PACKET_BYTES, out, sizeof out));
            s->fill = 0;
        }
        now_us = device_us();
    }
}

static void service_control(uint32_t now_us) {
    if (hello_requested || reached(now_us, next_hello_us)) {
        hello_requested = false;
        send_hello(&imu_stream, now_us);
        send_hello(&insole_stream, now_us);
        next_hello_us = now_us + HELLO_EVERY_US;
    }
    if (reached(now_us, next_status_us)) {
        read_battery();
        battery_service.write(battery_pct);
        uint8_t flags = status_flags;
        status_flags = 0;
        send_status(&imu_stream, now_us, flags);
        send_status(&insole_stream, now_us, flags);
        next_status_us = now_us + STATUS_EVERY_US;
    }
}

/* Wake at the next slot of either stream. Returns false if that slot has already passed
 * (the compare would then only fire after the clock wraps). */
static bool arm_wakeup(void) {
    uint32_t a = slot_us(&imu_stream, imu_stream.k);
    uint32_t b = slot_us(&insole_stream, insole_stream.k);
    uint32_t next = reached(b, a) ? a : b; /* the earlier one */
    NRF_TIMER4->CC[1] = next;
    return !reached(device_us(), next);
}

static void sampler_task(void *arg) {
    (void)arg;
    for (;;) {
        uint32_t now_us = device_us();
        service_imu(now_us);
        service_insole(device_us());
        service_control(device_us());
        if (arm_wakeup()) {
            ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(20));
        }
    }
}

static void stream_init(SampleStream *s, uint32_t device_id, uint32_t period_us, uint32_t late_us,
                        uint8_t spp, uint32_t t0_us) {
    s->dev.device_id = device_id;
    s->dev.next_seq = 0;
    s->period_us = period_us;
    s->late_limit_us = late_us;
    s->samples_per_packet = spp;
    s->t0_us = t0_us;
    s->k = 0;
    s->fill = 0;
}

/* ------------------------------------------------------------ BLE */

static void put_le(uint8_t *out, uint32_t value, uint8_t n_bytes) {
    for (uint8_t i = 0; i < n_bytes; ++i) {
        out[i] = (uint8_t)(value >> (8u * i));
    }
}

static void control_reply(uint16_t conn, uint8_t opcode, uint8_t status, const uint8_t *payload,
                          uint8_t len) {
    uint8_t reply[2 + 16];
    reply[0] = (uint8_t)(GC_BLE_REPLY_FLAG | (opcode & 0x7Fu));
    reply[1] = status;
    if (len > 0u && len <= 16u) {
        memcpy(&reply[2], payload, len);
    }
    control_char.notify(conn, reply, (uint16_t)(2u + (len <= 16u ? len : 0u)));
}

static void on_control_write(uint16_t conn, BLECharacteristic *chr, uint8_t *data,
                             uint16_t len) {
    (void)chr;
    if (len == 0) {
        return;
    }
    uint8_t op = data[0];
    if (op == GC_BLE_OP_START) {
        hello_requested = true;
        ble_streaming = true;
        control_reply(conn, op, GC_BLE_STATUS_OK, NULL, 0);
    } else if (op == GC_BLE_OP_STOP) {
        ble_streaming = false;
        control_reply(conn, op, GC_BLE_STATUS_OK, NULL, 0);
    } else if (op == GC_BLE_OP_SET_RATE) {
        /* The rates are fixed at build time in this firmware. */
        control_reply(conn, op, GC_BLE_STATUS_NOT_ALLOWED, NULL, 0);
    } else if (op == GC_BLE_OP_GET_INFO) {
        /* Describes the IMU device; the insole device shares the link (see README). */
        BLEConnection *c = Bluefruit.Connection(conn);
        uint8_t info[13]; /* device_id u32, kind, side, mount, fw, rate u16, mtu u16, n_ch */
        put_le(&info[0], imu_stream.dev.device_id, 4);
        info[4] = GC_KIND_IMU;
        info[5] = WEAR_SIDE;
        info[6] = IMU_MOUNT;
        info[7] = FIRMWARE_VERSION;
        put_le(&info[8], IMU_RATE_HZ, 2);
        put_le(&info[10], c != NULL ? c->getMtu() : 23u, 2);
        info[12] = GC_IMU_CHANNELS;
        control_reply(conn, op, GC_BLE_STATUS_OK, info, sizeof info);
    } else {
        control_reply(conn, op, GC_BLE_STATUS_UNKNOWN_OPCODE, NULL, 0);
    }
}

static void on_connect(uint16_t conn) {
    BLEConnection *c = Bluefruit.Connection(conn);
    c->requestPHY();                 /* 2M PHY where the central supports it */
    c->requestDataLengthUpdate();    /* 251-byte link-layer packets */
    c->requestMtuExchange(GC_BLE_ATT_MTU_WANTED);
    c->requestConnectionParameter(6); /* 7.5 ms interval (1.25 ms units) */
    ble_conn_handle = conn;
}

static void on_disconnect(uint16_t conn, uint8_t reason) {
    (void)conn;
    (void)reason;
    ble_streaming = false;
    ble_conn_handle = BLE_CONN_HANDLE_INVALID;
}

static void ble_begin(void) {
    Bluefruit.configPrphBandwidth(BANDWIDTH_MAX); /* MTU 247, long connection events */
    Bluefruit.begin();
    Bluefruit.setTxPower(4);
    Bluefruit.setName("gaitcue");
    Bluefruit.Periph.setConnectCallback(on_connect);
    Bluefruit.Periph.setDisconnectCallback(on_disconnect);
    Bluefruit.Periph.setConnInterval(6, 12); /* 7.5-15 ms */

    battery_service.begin();
    battery_service.write(battery_pct);

    gaitcue_service.begin();
    data_char.setProperties(CHR_PROPS_NOTIFY);
    data_char.setPermission(SECMODE_OPEN, SECMODE_NO_ACCESS);
    data_char.setMaxLen(GC_MAX_PACKET_BYTES);
    data_char.begin();
    control_char.setProperties(CHR_PROPS_WRITE | CHR_PROPS_NOTIFY);
    control_char.setPermission(SECMODE_OPEN, SECMODE_OPEN);
    control_char.setMaxLen(20);
    control_char.setWriteCallback(on_control_write);
    control_char.begin();
}

static void advertise(void) {
    uint32_t id = imu_stream.dev.device_id;
    uint8_t manufacturer[2 + GC_BLE_ADVERT_DATA_BYTES];
    put_le(&manufacturer[0], GC_BLE_MANUFACTURER_ID, 2);
    manufacturer[2] = GC_KIND_IMU;
    manufacturer[3] = WEAR_SIDE;
    put_le(&manufacturer[4], id, 4);
    Bluefruit.Advertising.addFlags(BLE_GAP_ADV_FLAGS_LE_ONLY_GENERAL_DISC_MODE);
    Bluefruit.Advertising.addService(gaitcue_service);
    Bluefruit.Advertising.addManufacturerData(manufacturer, sizeof manufacturer);
    Bluefruit.ScanResponse.addName();
    Bluefruit.Advertising.restartOnDisconnect(true);
    Bluefruit.Advertising.setInterval(32, 244); /* 20 ms, then 152.5 ms (0.625 ms units) */
    Bluefruit.Advertising.setFastTimeout(30);
    Bluefruit.Advertising.start(0);
}

/* Notifications: whole packets back to back while they fit ATT_MTU - 3; a packet that does
 * not fit goes out in fragments behind a one-byte header. */
static uint8_t notify_buffer[GC_MAX_PACKET_BYTES];
static uint16_t notify_fill;
static uint8_t fragment_counter;

static void ble_flush(uint16_t conn) {
    if (notify_fill > 0u) {
        data_char.notify(conn, notify_buffer, notify_fill);
        notify_fill = 0;
    }
}

static void ble_send(uint16_t conn, uint16_t room, const QueuedPacket *p) {
    if (p->len <= room) {
        if (notify_fill + p->len > room) {
            ble_flush(conn);
        }
        memcpy(&notify_buffer[notify_fill], p->bytes, p->len);
        notify_fill = (uint16_t)(notify_fill + p->len);
        return;
    }
    ble_flush(conn);
    uint16_t piece = (uint16_t)(room - 1u);
    for (uint16_t at = 0; at < p->len; at = (uint16_t)(at + piece)) {
        uint8_t fragment[GC_MAX_PACKET_BYTES + 1];
        uint16_t left = (uint16_t)(p->len - at);
        uint16_t n = left < piece ? left : piece;
        fragment[0] = (uint8_t)(GC_BLE_FRAGMENT_FLAG | fragment_counter);
        if (at == 0u) {
            fragment[0] |= GC_BLE_FRAGMENT_FIRST;
        }
        if (at + n >= p->len) {
            fragment[0] |= GC_BLE_FRAGMENT_LAST;
        }
        memcpy(&fragment[1], &p->bytes[at], n);
        data_char.notify(conn, fragment, (uint16_t)(n + 1u));
        fragment_counter = (uint8_t)((fragment_counter + 1u) & GC_BLE_FRAGMENT_COUNTER_MASK);
    }
}

/* ------------------------------------------------------------ USB serial */

static bool usb_was_open;

static void usb_send(const QueuedPacket *p) {
    uint8_t framed[GC_MAX_FRAME_BYTES];
    bool open = (bool)Serial; /* a host holds the port open (DTR) */
    if (open && !usb_was_open) {
        Serial.write((uint8_t)0x00); /* delimit the first frame the host will see */
    }
    usb_was_open = open;
    if (!open) {
        return;
    }
    int32_t n = gc_frame(p->bytes, p->len, framed, sizeof framed);
    if (n > 0 && Serial.availableForWrite() >= n) {
        Serial.write(framed, (size_t)n);
    } /* else: the host is not reading fast enough; this frame is lost on USB only */
}

/* ------------------------------------------------------------ Arduino entry points */

void setup() {
    Serial.begin(921600); /* USB CDC ignores the rate */
    analogReadResolution(12);
    analogReference(AR_VDD4);
    for (uint8_t bit = 0; bit < 3; ++bit) {
        pinMode(MUX_SELECT_PINS[bit], OUTPUT);
    }
    bool imu_ok = imu_begin();

    ble_begin();
    /* Keep the 32 MHz crystal running so the µs clock has crystal accuracy between radio
     * events (otherwise TIMER4 may run from the ±1.5 % RC oscillator). */
    sd_clock_hfclk_request();
    uint32_t hfclk_running = 0;
    while (!hfclk_running) {
        sd_clock_hfclk_is_running(&hfclk_running);
    }
    while (boot_id == 0u) {
        uint8_t r[2];
        if (sd_rand_application_vector_get(r, sizeof r) == NRF_SUCCESS) {
            boot_id = (uint16_t)(r[0] | (r[1] << 8));
        }
    }

    uint32_t addr = NRF_FICR->DEVICEADDR[0];
    stream_init(&imu_stream, addr & ~1u, IMU_PERIOD_US, IMU_LATE_LIMIT_US,
                IMU_SAMPLES_PER_PACKET, 0);
    stream_init(&insole_stream, addr | 1u, INSOLE_PERIOD_US, INSOLE_LATE_LIMIT_US,
                INSOLE_SAMPLES_PER_PACKET, 0);
    if (!imu_ok) {
        status_flags |= GC_STATUS_SENSOR_FAULT;
    }
    advertise();

    packet_queue = xQueueCreate(PACKET_QUEUE_DEPTH, sizeof(QueuedPacket));
    device_clock_start();
    uint32_t t0 = device_us() + 20000u; /* first slots 20 ms from now */
    imu_stream.t0_us = t0;
    insole_stream.t0_us = t0;
    next_hello_us = t0;
    next_status_us = t0 + 500000u;
    xTaskCreate(sampler_task, "sampler", 1024, NULL, TASK_PRIO_HIGH, &sampler_handle);
}

void loop() {
    QueuedPacket p;
    uint16_t conn = ble_conn_handle;
    BLEConnection *c = conn != BLE_CONN_HANDLE_INVALID ? Bluefruit.Connection(conn) : NULL;
    bool to_ble = ble_streaming && c != NULL && data_char.notifyEnabled(conn);
    /* Notification payload: ATT_MTU - 3 (20 bytes until the MTU exchange completes). */
    uint16_t room = to_ble ? (uint16_t)(c->getMtu() - GC_BLE_ATT_NOTIFY_OVERHEAD) : 0u;
    /* Wait up to a tick for the first packet, then drain what is there. */
    if (xQueueReceive(packet_queue, &p, 1) != pdTRUE) {
        return;
    }
    do {
        usb_send(&p);
        if (to_ble) {
            ble_send(conn, room, &p);
        }
    } while (xQueueReceive(packet_queue, &p, 0) == pdTRUE);
    if (to_ble) {
        ble_flush(conn);
    }
}
