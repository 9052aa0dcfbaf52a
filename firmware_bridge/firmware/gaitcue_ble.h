/*
 * gaitcue BLE GATT service, as the reference firmware implements it.
 *
 * PROVISIONAL: firmware_bridge/PROTOCOL.md has no BLE section yet. The values below follow
 * the host's BLE bridge as it stood when this sketch was written (firmware_bridge/ble/gatt.py:
 * service, data and control characteristic UUIDs, control opcodes, fragment header, the
 * advertisement's manufacturer data). When the BLE section lands, reconcile this block with
 * it; test_firmware_encoder.py checks that the strings and the byte arrays below agree and,
 * when the host module is importable, that they equal its UUIDs.
 *
 * Plain C99, no board dependency.
 */
#ifndef GAITCUE_BLE_H
#define GAITCUE_BLE_H

/* ===================== gaitcue GATT UUIDs (provisional) ===================== */
#define GC_BLE_SERVICE_UUID_STR "3f540001-d1a0-468e-859a-18b3f2870b05"
#define GC_BLE_DATA_CHAR_UUID_STR "3f540002-d1a0-468e-859a-18b3f2870b05"
#define GC_BLE_CONTROL_CHAR_UUID_STR "3f540003-d1a0-468e-859a-18b3f2870b05"
/* The same UUIDs as 16 bytes, least significant byte first (the order of the Nordic
 * SoftDevice and of Adafruit Bluefruit's BLEUuid(const uint8_t[16])). */
#define GC_BLE_SERVICE_UUID_LSB_FIRST \
    {0x05, 0x0B, 0x87, 0xF2, 0xB3, 0x18, 0x9A, 0x85, 0x8E, 0x46, 0xA0, 0xD1, 0x01, 0x00, 0x54, 0x3F}
#define GC_BLE_DATA_CHAR_UUID_LSB_FIRST \
    {0x05, 0x0B, 0x87, 0xF2, 0xB3, 0x18, 0x9A, 0x85, 0x8E, 0x46, 0xA0, 0xD1, 0x02, 0x00, 0x54, 0x3F}
#define GC_BLE_CONTROL_CHAR_UUID_LSB_FIRST \
    {0x05, 0x0B, 0x87, 0xF2, 0xB3, 0x18, 0x9A, 0x85, 0x8E, 0x46, 0xA0, 0xD1, 0x03, 0x00, 0x54, 0x3F}
/* ============================================================================ */

/* Manufacturer data in the advertisement: company id, then kind (u8), side (u8) and
 * device_id (u32, little-endian). 0xFFFF is the id reserved for tests and prototypes. */
#define GC_BLE_MANUFACTURER_ID 0xFFFFu
#define GC_BLE_ADVERT_DATA_BYTES 6u

/* ATT_MTU the device asks for: 244-byte notifications. */
#define GC_BLE_ATT_MTU_WANTED 247u
#define GC_BLE_ATT_NOTIFY_OVERHEAD 3u

/* Below this ATT_MTU the device cuts each packet into fragments, one per notification,
 * each behind a one-byte header: 0x80 fragment, 0x40 first, 0x20 last, low 5 bits a
 * counter that runs on across packets. Fragments carry at most ATT_MTU - 4 bytes. */
#define GC_BLE_FRAGMENT_BELOW_MTU 67u
#define GC_BLE_FRAGMENT_FLAG 0x80u
#define GC_BLE_FRAGMENT_FIRST 0x40u
#define GC_BLE_FRAGMENT_LAST 0x20u
#define GC_BLE_FRAGMENT_COUNTER_MASK 0x1Fu

/* Control characteristic: requests written [opcode, parameters...]; replies notified as
 * [0x80 | opcode, status, payload...]. */
#define GC_BLE_OP_START 0x01u
#define GC_BLE_OP_STOP 0x02u
#define GC_BLE_OP_SET_RATE 0x03u /* uint16 rate (Hz), effective at the next START */
#define GC_BLE_OP_GET_INFO 0x04u /* reply: device_id u32, kind, side, mount, fw u8,
                                    rate_hz u16, att_mtu u16, n_channels u8 */
#define GC_BLE_REPLY_FLAG 0x80u
#define GC_BLE_STATUS_OK 0u
#define GC_BLE_STATUS_UNKNOWN_OPCODE 1u
#define GC_BLE_STATUS_INVALID_PARAMETER 2u
#define GC_BLE_STATUS_NOT_ALLOWED 3u

#endif /* GAITCUE_BLE_H */
