// A JVM's heap at work: short-lived objects in waves, a survivor set that grows and is cut,
// and large arrays (humongous in G1), over six phases of about half a second.
import java.util.ArrayList;
import java.util.List;

public class Churn {
    public static void main(String[] args) {
        List<int[]> keep = new ArrayList<>();
        long sum = 0;
        for (int phase = 0; phase < 6; phase++) {
            for (int i = 0; i < 400_000 * (phase + 1); i++) {
                int[] o = new int[8 + i % 32];
                o[0] = i;
                if (i % 50 == 0) keep.add(o); else sum += o.length;
            }
            byte[] big = new byte[32 << 20];
            big[big.length - 1] = (byte) phase;
            sum += big[big.length - 1];
            if (phase % 2 == 1) keep = new ArrayList<>(keep.subList(keep.size() / 2, keep.size()));
            long until = System.currentTimeMillis() + 300;
            while (System.currentTimeMillis() < until) { sum++; }
        }
        System.out.println(keep.size() + " " + (sum & 1));
    }
}
