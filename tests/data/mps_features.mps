* Every MPS feature LinearProgram.from_mps reads, on a small bounded MILP
* (free format): OBJSENSE, an objective constant, ranges on E, L and G
* rows, and every bound type.
NAME          FEATURES
OBJSENSE
    MAX
ROWS
 N  PROFIT
 L  CAP1
 G  DEMAND
 E  BALANCE
 E  BAL2
 L  CAP2
 G  FLOOR
 N  IGNORED
COLUMNS
    X1        PROFIT         3.0   CAP1           1.0
    X1        DEMAND         1.0   IGNORED        9.0
    X2        PROFIT         2.0   CAP1           2.0
    X2        BALANCE        1.0   FLOOR          1.0
    MARKER    'MARKER'       'INTORG'
    X3        PROFIT        -1.0   CAP2           1.0
    X3        BALANCE       -1.0
    X4        PROFIT         1.5   DEMAND         1.0
    X4        BAL2           1.0
    MARKER    'MARKER'       'INTEND'
    X5        PROFIT         0.5   CAP2           1.0
    X5        BAL2          -1.0   FLOOR          1.0
    X6        PROFIT        -2.0   CAP1           1.0
    X6        FLOOR         -1.0
    X7        PROFIT         1.0   CAP2           2.0
    X7        DEMAND        -1.0
    X8        PROFIT         0.25  CAP1           1.0
    X9        PROFIT        -1.0   DEMAND         1.0
RHS
    RHS       PROFIT        -5.0   CAP1          -4.0
    RHS       DEMAND         1.0   BALANCE       -5.0
    RHS       BAL2           1.0   CAP2           8.0
    RHS       FLOOR         -3.0
RANGES
    RNG       CAP1           4.0   DEMAND         6.0
    RNG       BALANCE        3.0   BAL2          -2.0
BOUNDS
 UP BND       X1             4.0
 LO BND       X1             0.5
 UP BND       X2            -1.0
 LO BND       X2            -6.0
 UI BND       X3             5.0
 LI BND       X3             1.0
 BV BND       X4
 FR BND       X5
 MI BND       X6
 UP BND       X6             2.0
 FX BND       X7             1.5
 MI BND       X8
 UP BND       X8            -2.0
 PL BND       X9
ENDATA
