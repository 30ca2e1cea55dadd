// Ask Decision Layer for a decision in Java with Apache Avro's own single-object encoding
// (BinaryMessageEncoder / BinaryMessageDecoder, which compute the schema fingerprint with
// SchemaNormalization as the Avro specification defines it). kcat carries the bytes to and from
// Kafka (decide.sh); nothing of Decision Layer's code is used.
//
//   java Decide encode SCHEMAS_DIR FUNCTION_ID REQUEST_ID INPUT_JSON OUT_FILE
//   kcat ... -f '%S\n%s' | java Decide decode SCHEMAS_DIR RECORD_NAME NEEDLE
//       prints (as JSON) every record whose text contains NEEDLE; frames are "<size>\n<bytes>".
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class Decide {
    static Schema schema(String dir, String name) throws IOException {
        return new Schema.Parser().parse(new File(dir, name + ".avsc"));
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 6 && args[0].equals("encode")) {
            Schema schema = schema(args[1], "DecisionRequest");
            GenericRecord request = new GenericData.Record(schema);
            request.put("request_id", args[3]);
            request.put("function_id", args[2]);
            request.put("function_version", null);
            request.put("as_of", null);
            request.put("issued_at", System.currentTimeMillis()); // timestamp-millis
            request.put("input", args[4]);
            request.put("reply_to", null);
            ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(request);
            try (FileOutputStream out = new FileOutputStream(args[5])) {
                out.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            }
        } else if (args.length >= 4 && args[0].equals("decode")) {
            BinaryMessageDecoder<GenericRecord> decoder =
                new BinaryMessageDecoder<>(GenericData.get(), schema(args[1], args[2]));
            DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
            while (true) {
                ByteArrayOutputStream line = new ByteArrayOutputStream();
                int c;
                while ((c = in.read()) != -1 && c != '\n') line.write(c);
                if (c == -1) break;
                int size = Integer.parseInt(line.toString("US-ASCII").trim());
                if (size < 0) continue;
                byte[] frame = new byte[size];
                in.readFully(frame);
                String json = decoder.decode(frame).toString();
                if (json.contains(args[3])) System.out.println(json);
            }
        } else {
            System.err.println("usage: Decide encode SCHEMAS FUNCTION REQUEST_ID INPUT OUT | decode SCHEMAS RECORD NEEDLE");
            System.exit(2);
        }
    }
}
