// Texts the demo page offers to pick, written for the demo: names no model can know in
// advance, each coming back again and again. The models learn English from the other
// samples; the FWL head learns the names of the text it reads as it reads them.

/** Sample texts by title. */
export const SAMPLES: Record<string, string> = {
  "The lighthouse keepers":
    `Old Quorvath kept the lighthouse on Skellmoor with his niece Bryndalee. Every evening Quorvath climbed the stairs, and every evening Bryndalee carried the oil behind him. The ships that passed Skellmoor knew the light of Quorvath and the songs of Bryndalee.

One winter a stranger named Tavishrune came to Skellmoor in a small grey boat. Tavishrune said he had come to learn the light. Quorvath did not trust him, but Bryndalee gave Tavishrune bread and a blanket. At night Tavishrune watched Quorvath climb the stairs, and at dawn Tavishrune watched Bryndalee clean the great lens.

When the storm came, Quorvath fell on the stairs. Bryndalee ran for the oil, and Tavishrune ran for the lamp. Together Bryndalee and Tavishrune kept the light of Skellmoor burning until morning, and the ships came home. Quorvath laughed from his bed and said that Skellmoor now had two keepers. In spring Tavishrune did not leave. He and Bryndalee still keep the light, and the sailors say the lamp of Skellmoor has never been brighter.`,
  "A market day":
    `Mirelda sold plums at the market of Dunhaven, and Osgrimble sold pears beside her. Each morning Mirelda set out her plums and Osgrimble set out his pears. The children of Dunhaven bought plums from Mirelda and pears from Osgrimble, and everyone said the market of Dunhaven was the best in the valley.

One day a merchant called Pellawick arrived with a cart of golden apples. Pellawick shouted louder than Mirelda and Osgrimble together. The children ran to Pellawick, and Mirelda and Osgrimble sold nothing. So Mirelda made plum jam, and Osgrimble made pear cake, and they gave a spoon of jam and a slice of cake to every child. The children came back to Mirelda and Osgrimble. Pellawick watched, then bought a jar of jam from Mirelda and a cake from Osgrimble, and the next week Pellawick sold apple pies at the market of Dunhaven beside them.`,
  "The river crossing":
    `Every spring the ferryman Haldric carried travellers across the river Ombrel. His daughter Senwyth counted the coins, and his old dog Brisket slept in the bow. When the river Ombrel was high, Haldric pulled the rope with both hands, and Senwyth held the lantern while Brisket barked at the water.

One morning a painter called Lusimar asked to be carried across the Ombrel with a great wooden frame. Haldric said the frame was too wide for the ferry, but Senwyth found a way to tie it to the side. Halfway over, the wind caught the frame and turned the ferry around. Brisket jumped into the Ombrel, Lusimar shouted, and Haldric laughed so hard that he nearly let go of the rope. At last they reached the far bank, wet and cold. Lusimar stayed a week to paint the river, and the painting of Haldric, Senwyth and Brisket on the Ombrel still hangs in the inn by the crossing.`,
};
